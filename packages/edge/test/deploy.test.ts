import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CloudflareFake } from "@cutover/testkit/dns-fakes";
import {
  deployEdge,
  describeMetadata,
  edgeStatus,
  EdgeError,
  planEdgeDeployment,
  removeEdge,
  workerBundlePath,
  type EdgeStatusBody,
} from "../src/index.js";
import { cloudflareOn, dohFrom, DOH_URL } from "./_edge.js";
import { useWorkersApi } from "./_workers-fake.js";
import { discoverTargets, planRestore, planRollback, planSwap } from "@cutover/core";

const CF_TOKEN = "cf-test-token-0123456789";
const DEPLOY_TOKEN = "deploy-token-workers-scripts-edit-0001";
const MOVE = { old: { ipv4: "198.51.100.10" }, new: { ipv4: "203.0.113.20" } };

const dns = new CloudflareFake({ baseUrl: "https://dns.cloudflare.test/client/v4" });
dns.addZone("example.com");
dns.addRecord("example.com", { name: "www", type: "A", content: "198.51.100.10", ttl: 300 });
const { outbound, workers, api } = useWorkersApi(DEPLOY_TOKEN, dns, { doh: dohFrom(dns, "example.com") });

async function deployment(swapInMs: number) {
  const provider = cloudflareOn(dns, ["example.com"], CF_TOKEN);
  const { targets } = discoverTargets(await provider.listRecords("example.com"), MOVE);
  const now = Date.now();
  const caps = provider.capabilities;
  return planEdgeDeployment({
    name: "colo-to-linode",
    provider: "cloudflare",
    apiUrl: dns.baseUrl,
    zones: ["example.com"],
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
    rollback: planRollback(targets, MOVE, 300, caps),
    originals: targets,
    resolvers: [DOH_URL],
    checkOffsetsMs: [],
    now: new Date(now),
  });
}

describe("deployEdge against a fake of the Workers API", () => {
  it("uploads one module with its metadata, bindings and secrets, enables workers.dev, arms, and the steps run", async () => {
    const d = await deployment(12_000);
    const code = await readFile(workerBundlePath(), "utf8");
    const result = await deployEdge({ ...api, deployment: d, secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN }, code });
    expect(result.migration).toBe("created");
    expect(result.handle.url).toBe("https://cutover-colo-to-linode.example-account.workers.dev");
    expect(result.status.state).toBe("armed");
    expect(result.status.nextAlarm).toBe(new Date(d.data.steps[0]!.at).toISOString());

    const s = workers.scripts.get("cutover-colo-to-linode")!;
    expect(Object.keys(s.parts).sort()).toEqual(["metadata", "plan.js", "worker.js"]);
    expect(s.parts["plan.js"]).toMatchObject({ type: "application/javascript+module", filename: "plan.js" });
    expect(result.startupTimeMs).toBeGreaterThan(0);
    expect(s.parts.metadata!.type).toBe("application/json");
    expect(s.parts["worker.js"]).toMatchObject({ type: "application/javascript+module", filename: "worker.js" });
    expect(s.parts["worker.js"]!.text).toBe(code);
    const m = s.metadata;
    expect(m.main_module).toBe("worker.js");
    expect(m.compatibility_date).toBe("2025-07-18");
    expect(m.compatibility_flags).toEqual(["nodejs_compat"]);
    expect(m.migrations).toEqual({ new_tag: "v1", new_sqlite_classes: ["CutoverSchedule"] });
    const byName = Object.fromEntries(m.bindings.map((b) => [b.name, b]));
    expect(byName.SCHEDULE).toEqual({
      type: "durable_object_namespace",
      name: "SCHEDULE",
      class_name: "CutoverSchedule",
    });
    expect(byName.CLOUDFLARE_API_TOKEN).toEqual({ type: "secret_text", name: "CLOUDFLARE_API_TOKEN", text: CF_TOKEN });
    expect(byName.CONTROL_TOKEN).toEqual({
      type: "secret_text",
      name: "CONTROL_TOKEN",
      text: result.handle.controlToken,
    });
    expect(result.handle.controlToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The plan travels as a module, not as a variable (5 KB at most each).
    expect(Object.keys(byName).sort()).toEqual(["CLOUDFLARE_API_TOKEN", "CONTROL_TOKEN", "SCHEDULE"]);
    expect(s.subdomain).toBe(true);
    // The deploy token authenticates the API calls and goes nowhere else.
    expect(workers.log.every((l) => l.authorization === `Bearer ${DEPLOY_TOKEN}`)).toBe(true);
    expect(Object.values(s.parts).some((p) => p.text.includes(DEPLOY_TOKEN))).toBe(false);

    // The uploaded Worker runs the steps at their times; status comes back through its URL.
    let status: EdgeStatusBody;
    for (;;) {
      status = await edgeStatus(result.handle);
      if (status.state === "done") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(status.steps.map((x) => `${x.id} ${x.status}`)).toEqual(["swap done", "restore done"]);
    expect(dns.list("example.com")[0]!.content).toBe("203.0.113.20");
    // Long after an upload, a wrong token is refused at once (no rollout to wait for).
    const { uploadedAt: _, ...settled } = result.handle;
    await expect(edgeStatus({ ...settled, controlToken: "wrong-token-0000" })).rejects.toMatchObject({
      code: "E_EDGE_UNAUTHORIZED",
    });

    // Deploying again keeps the Durable Object class (no second migration).
    const again = await deployEdge({ ...api, deployment: d, secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN }, code });
    expect(again.migration).toBe("kept");
    expect(workers.scripts.get("cutover-colo-to-linode")!.metadata.migrations).toBeUndefined();

    expect(await removeEdge({ ...api, scriptName: "cutover-colo-to-linode" })).toEqual({ removed: true });
    expect(workers.scripts.has("cutover-colo-to-linode")).toBe(false);
    expect(await removeEdge({ ...api, scriptName: "cutover-colo-to-linode" })).toEqual({ removed: false });
    expect(outbound.unhandled).toEqual([]);
  });

  it("describes the metadata without secret values", async () => {
    const d = await deployment(3_600_000);
    const text = JSON.stringify(
      describeMetadata({
        ...d.metadata,
        bindings: d.metadata.bindings.map((b) => (b.type === "secret_text" ? { ...b, text: CF_TOKEN } : b)),
      }),
    );
    expect(text).not.toContain(CF_TOKEN);
    expect(text).toContain('"name":"CLOUDFLARE_API_TOKEN","text":"(secret)"');
  });

  it("says what is wrong with the deploy token, without showing it", async () => {
    const d = await deployment(3_600_000);
    const wrong = "wrong-deploy-token-123456";
    const e = await deployEdge({
      ...api,
      apiToken: wrong,
      deployment: d,
      secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      code: "x",
    }).then(
      () => undefined,
      (x: unknown) => x as EdgeError,
    );
    if (!e) throw new Error("deployEdge accepted a wrong token");
    expect(e).toBeInstanceOf(EdgeError);
    expect(e.code).toBe("E_EDGE_AUTH");
    expect(e.message).toBe("[cloudflare] 401 Authentication error (10000) while listing Workers");
    expect(e.hint).toContain("Workers Scripts › Edit");
    expect(`${e.message}${e.hint}`).not.toContain(wrong);
    const same = await deployEdge({
      ...api,
      apiToken: CF_TOKEN,
      deployment: d,
      secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      code: "x",
    }).then(
      () => undefined,
      (x: unknown) => x as EdgeError,
    );
    expect(same?.code).toBe("E_EDGE_SAME_TOKEN");
  });
});
