import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CloudflareFake } from "@cutover/testkit/dns-fakes";
import {
  buildUploadForm,
  checkEdgeUpload,
  deployEdge,
  edgeStatus,
  EdgeError,
  planEdgeDeployment,
  workerBundlePath,
  type EdgeDeployment,
} from "../src/index.js";
import { cloudflareOn, dohHandler, DOH_URL } from "./_edge.js";
import { useWorkersApi } from "./_workers-fake.js";
import type { DnsRecord } from "@cutover/core";
import { discoverTargets, planRestore, planRollback, planSwap } from "@cutover/core";

const CF_TOKEN = "cf-test-token-0123456789";
const DEPLOY_TOKEN = "deploy-token-workers-scripts-edit-0001";
const MOVE = {
  old: { ipv4: "198.51.100.10", ipv6: "2001:db8::10" },
  new: { ipv4: "203.0.113.20", ipv6: "2001:db8:1::20" },
};
const ZONES = Array.from({ length: 10 }, (_, i) => `zone${i + 1}.example`);

const dns = new CloudflareFake({ baseUrl: "https://dns.cloudflare.test/client/v4" });
// 500 records on 10 zones: per zone an apex A and AAAA, www, mail, an SPF naming the old address, 45 hosts.
for (const zone of ZONES) {
  dns.addZone(zone);
  dns.addRecord(zone, { name: "@", type: "A", content: MOVE.old.ipv4, ttl: 300 });
  dns.addRecord(zone, { name: "@", type: "AAAA", content: MOVE.old.ipv6, ttl: 300 });
  dns.addRecord(zone, { name: "www", type: "A", content: MOVE.old.ipv4, ttl: 300 });
  dns.addRecord(zone, { name: "mail", type: "A", content: MOVE.old.ipv4, ttl: 300 });
  dns.addRecord(zone, { name: "@", type: "TXT", content: `v=spf1 ip4:${MOVE.old.ipv4} mx -all`, ttl: 300 });
  for (let i = 1; i <= 45; i++) dns.addRecord(zone, { name: `host${i}`, type: "A", content: MOVE.old.ipv4, ttl: 300 });
}
const { outbound, workers, api } = useWorkersApi(DEPLOY_TOKEN, dns, { doh: dohHandler(() => []) });

async function bigMove(swapInMs: number, extraOriginals: DnsRecord[] = []): Promise<EdgeDeployment> {
  const provider = cloudflareOn(dns, ZONES, CF_TOKEN);
  const records: DnsRecord[] = [];
  for (const z of ZONES) records.push(...(await provider.listRecords(z)));
  expect(records).toHaveLength(500);
  const { targets, spf } = discoverTargets(records, MOVE);
  const caps = provider.capabilities;
  await provider.close?.();
  const now = Date.now();
  return planEdgeDeployment({
    name: "big-move",
    provider: "cloudflare",
    apiUrl: dns.baseUrl,
    zones: ZONES,
    swapAt: new Date(now + swapInMs),
    steps: [
      {
        kind: "swap" as const,
        to: ["203.0.113.20"],
        writes: "batch" as const,
        label: "",
        notes: [] as string[],
        at: new Date(now + swapInMs),
        summary: "swap",
        changes: planSwap(targets, MOVE, 300, caps),
      },
      {
        kind: "restore" as const,
        label: "",
        notes: [] as string[],
        at: new Date(now + swapInMs + 1000),
        summary: "restore",
        changes: planRestore(targets, MOVE, 300, caps),
      },
    ],
    lowerDoneAt: new Date(now - 3_600_000),
    done: ["lower"],
    rollback: planRollback(targets, MOVE, 300, caps),
    originals: [...targets, ...spf, ...extraOriginals],
    resolvers: [DOH_URL],
    checkOffsetsMs: [],
    now: new Date(now),
  });
}

/** The upload as the code before this change sent it: the whole plan as a `PLAN` json binding. */
async function uploadRaw(d: EdgeDeployment, withPlanVariable: boolean): Promise<Response> {
  const code = await readFile(workerBundlePath(), "utf8");
  const metadata = {
    ...d.metadata,
    bindings: [
      ...d.metadata.bindings.map((b) => (b.type === "secret_text" ? { ...b, text: "x" } : b)),
      ...(withPlanVariable ? [{ type: "json" as const, name: "PLAN", json: d.data }] : []),
    ],
  };
  return fetch(`${workers.baseUrl}/accounts/${workers.accountId}/workers/scripts/raw-upload`, {
    method: "PUT",
    headers: { authorization: `Bearer ${DEPLOY_TOKEN}` },
    body: buildUploadForm(metadata, d.mainModule, code, withPlanVariable ? [] : d.modules),
  });
}

describe("Cloudflare's limits", () => {
  it("the Worker carries the providers' code, not their SDKs nor the plan's validators", async () => {
    const code = await readFile(workerBundlePath(), "utf8");
    // Cloudflare and Linode speak HTTP through the provider kit: no SDK, no axios (the bundle was 384 KB with
    // them, 67 KB without); the provider registry's option schemas (zod, ~440 KB) stay out with the plans.
    expect(code).not.toMatch(/x-stainless/i); // the cloudflare SDK's headers
    expect(code).not.toContain("AxiosError");
    expect(code).not.toContain("$ZodType");
    expect(code).toContain("/dns_records/batch");
  });

  it("a 500-record, 10-zone move deploys within every limit and its swap and restore run in the Worker", async () => {
    const d = await bigMove(10_000);
    expect(d.data.originals).toHaveLength(500);
    const code = await readFile(workerBundlePath(), "utf8");
    const { sizes, problems } = checkEdgeUpload(d, code);
    expect(problems).toEqual([]);
    expect(sizes.variables).toEqual([]);
    expect(sizes.modules.map((m) => m.name)).toEqual(["worker.js", "plan.js"]);

    // What the old upload sent is refused by the Workers API, as Cloudflare refuses a variable over 5 KB.
    const refused = await uploadRaw(d, true);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(await refused.json())).toContain("binding PLAN is over the 5 KB limit");

    const result = await deployEdge({ ...api, deployment: d, secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN }, code });
    expect(result.sizes.gzipBytes).toBe(sizes.gzipBytes);
    let status = result.status;
    for (let i = 0; i < 150 && status.state !== "done"; i++) {
      await new Promise((r) => setTimeout(r, 200));
      status = await edgeStatus(result.handle);
    }
    expect(status.steps.map((s) => `${s.id} ${s.status}`)).toEqual(["swap done", "restore done"]);
    expect((status.steps[0]!.result as { summary: string }).summary).toMatch(/^(\d+) applied, 0 already/);
    for (const zone of ZONES) {
      const moved = dns.list(zone).filter((r) => r.type === "A" || r.type === "AAAA");
      expect(moved).toHaveLength(49);
      expect(moved.every((r) => r.content === MOVE.new.ipv4 || r.content === MOVE.new.ipv6)).toBe(true);
    }
    expect(outbound.unhandled).toEqual([]);
  });

  it("refuses before uploading what Cloudflare would refuse, and the fake refuses it too", async () => {
    // 3.2 MB of incompressible data in the originals: over the 3 MB gzipped limit of a Worker.
    const filler: DnsRecord = {
      id: "filler",
      zone: ZONES[0]!,
      name: `filler.${ZONES[0]}`,
      type: "TXT",
      content: "x",
      ttl: 300,
      meta: { blob: randomBytes(3_200_000).toString("base64") },
    };
    const d = await bigMove(3_600_000, [filler]);
    const code = await readFile(workerBundlePath(), "utf8");
    const check = checkEdgeUpload(d, code);
    expect(check.problems).toHaveLength(1);
    expect(check.problems[0]).toMatch(/^the upload is [\d.]+ KiB gzipped; Cloudflare takes at most 3072.0 KiB/);
    const puts = () => workers.log.filter((l) => l.method === "PUT").length;
    const before = puts();
    const e = await deployEdge({
      ...api,
      deployment: d,
      secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      code,
    }).catch((x: unknown) => x as EdgeError);
    expect(e).toBeInstanceOf(EdgeError);
    expect((e as EdgeError).code).toBe("E_EDGE_LIMITS");
    expect((e as EdgeError).message).toContain("Cloudflare would refuse this Worker: the upload is");
    expect(puts()).toBe(before);
    const raw = await uploadRaw(d, false);
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ success: false, errors: [{ code: 10027 }] });
  });

  it("counts bindings against the limit of 64, here and in the fake", async () => {
    const d = await bigMove(3_600_000);
    const many = {
      ...d,
      metadata: {
        ...d.metadata,
        bindings: [
          ...d.metadata.bindings,
          ...Array.from({ length: 62 }, (_, i) => ({ type: "plain_text" as const, name: `V${i}`, text: "x" })),
        ],
      },
    };
    const code = await readFile(workerBundlePath(), "utf8");
    expect(checkEdgeUpload(many, code).problems).toEqual(["65 bindings; Cloudflare takes at most 64 on Workers Free"]);
    const raw = await uploadRaw(many, false);
    expect(raw.status).toBe(400);
    expect(JSON.stringify(await raw.json())).toContain("too many bindings (65)");
  });

  it("says clearly that Cloudflare refused a Worker that fails to start, and deploys nothing", async () => {
    const d = await bigMove(3_600_000);
    const e = await deployEdge({
      ...api,
      deployment: { ...d, scriptName: "cutover-broken" },
      secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      code: 'throw new Error("broken at startup");',
    }).catch((x: unknown) => x as EdgeError);
    expect(e).toBeInstanceOf(EdgeError);
    expect((e as EdgeError).message).toMatch(
      /^\[cloudflare\] 400 Uncaught error at startup: .* \(10021\) while uploading Worker cutover-broken$/,
    );
    expect((e as EdgeError).hint).toContain("Cloudflare could not start the Worker");
    expect(workers.scripts.has("cutover-broken")).toBe(false);
  });
});
