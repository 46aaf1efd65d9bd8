import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CloudflareFake } from "@cutover/testkit/dns-fakes";
import {
  cancelEdge,
  deployEdge,
  edgeStatus,
  planEdgeDeployment,
  workerBundlePath,
  type EdgeHandle,
  type EdgeStatusBody,
} from "../src/index.js";
import { cloudflareOn } from "./_edge.js";
import { useWorkersApi } from "./_workers-fake.js";
import { discoverTargets, planLower, planRestore, planRollback, planSwap } from "@cutover/core";

const CF_TOKEN = "cf-test-token-0123456789";
const DEPLOY_TOKEN = "deploy-token-workers-scripts-edit-0001";
const MOVE = { old: { ipv4: "198.51.100.10" }, new: { ipv4: "203.0.113.20" } };

const dns = new CloudflareFake({ baseUrl: "https://dns.cloudflare.test/client/v4" });
dns.addZone("example.com");
// Already at a low TTL: the lower step has nothing to change, so the swap need not wait an old TTL after it.
dns.addRecord("example.com", { name: "www", type: "A", content: MOVE.old.ipv4, ttl: 60 });
const { outbound, workers, api } = useWorkersApi(DEPLOY_TOKEN, dns);

/** The same timeline planned again, as `cutover schedule --with edge` run a second time plans it. */
async function deployment(times: { lower: number; swap: number; restore: number }, plannedAt: number) {
  const provider = cloudflareOn(dns, ["example.com"], CF_TOKEN);
  const { targets } = discoverTargets(await provider.listRecords("example.com"), MOVE);
  const caps = provider.capabilities;
  await provider.close?.();
  return planEdgeDeployment({
    name: "redeploy",
    provider: "cloudflare",
    apiUrl: dns.baseUrl,
    zones: ["example.com"],
    swapAt: new Date(times.swap),
    steps: [
      {
        kind: "lower" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.lower),
        summary: "lower",
        changes: planLower(targets, 300, caps),
      },
      {
        kind: "swap" as const,
        to: ["203.0.113.20"],
        writes: "batch" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.swap),
        summary: "swap",
        changes: planSwap(targets, MOVE, 300, caps),
      },
      {
        kind: "restore" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.restore),
        summary: "restore",
        changes: planRestore(targets, MOVE, 300, caps),
      },
    ],
    rollback: planRollback(targets, MOVE, 300, caps),
    originals: targets,
    checkOffsetsMs: [],
    now: new Date(plannedAt),
  });
}

async function until(h: EdgeHandle, done: (s: EdgeStatusBody) => boolean): Promise<EdgeStatusBody> {
  for (let i = 0; ; i++) {
    const s = await edgeStatus(h);
    if (done(s) || i > 300) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("deploying again", () => {
  it("between the lower and the swap, with a new control token while the old version still answers: the state and the alarm stay, the swap runs on time, status and cancel reach the Worker", async () => {
    const code = await readFile(workerBundlePath(), "utf8");
    const now = Date.now();
    const times = { lower: now + 4000, swap: now + 16_000, restore: now + 3_600_000 };
    const first = await deployEdge({
      ...api,
      deployment: await deployment(times, now),
      secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      code,
    });
    const lowered = await until(first.handle, (s) => s.steps[0]!.status === "done");
    expect(lowered.steps.map((s) => `${s.id} ${s.status}`)).toEqual(["lower done", "swap pending", "restore pending"]);

    // Deploy again from a machine without edge.json (a new control token), while Cloudflare still routes
    // the next 3 requests to the old version, which refuses the new token.
    workers.staleRequests = 3;
    const saved: EdgeHandle[] = [];
    const sleeps: number[] = [];
    const again = await deployEdge({
      ...api,
      deployment: await deployment(times, Date.now()),
      secrets: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
      code,
      onUploaded: async (h) => {
        saved.push(h);
      },
      sleep: async (ms) => {
        sleeps.push(ms);
        await new Promise((r) => setTimeout(r, 10));
      },
    });
    workers.staleRequests = 0;
    expect(again.migration).toBe("kept");
    expect(again.handle.controlToken).not.toBe(first.handle.controlToken);
    // The new token was handed over before the Worker was called; the three 401s were waited out.
    expect(saved.map((h) => h.controlToken)).toEqual([again.handle.controlToken]);
    expect(sleeps).toEqual([2000, 2000, 2000]);
    // The Durable Object kept its rows, its log and the swap's alarm.
    const armed = again.status;
    expect(armed.steps.map((s) => `${s.id} ${s.status} ${s.attempts}`)).toEqual([
      "lower done 1",
      "swap pending 0",
      "restore pending 0",
    ]);
    expect(armed.nextAlarm).toBe(new Date(times.swap).toISOString());
    expect(armed.log.filter((l) => l.message.startsWith("armed ")).length).toBe(1);

    const swapped = await until(again.handle, (s) => s.steps[1]!.status === "done");
    const swap = swapped.steps[1]!;
    expect(swap.attempts).toBe(1);
    expect(Date.parse(swap.startedAt!)).toBeGreaterThanOrEqual(times.swap);
    expect(dns.list("example.com")[0]!.content).toBe(MOVE.new.ipv4);

    // The old token no longer works; the new one reaches status and cancel (what rollback calls first).
    const { uploadedAt: _, ...oldSettled } = first.handle;
    await expect(edgeStatus(oldSettled)).rejects.toMatchObject({ code: "E_EDGE_UNAUTHORIZED" });
    const cancelled = await cancelEdge(again.handle);
    expect(cancelled.state).toBe("cancelled");
    expect(cancelled.nextAlarm).toBeNull();
    expect(outbound.unhandled).toEqual([]);
  });

  it("a 401 after an upload is retried for a bounded time, then refused clearly", async () => {
    const now = Date.now();
    let clock = now;
    const handle: EdgeHandle = {
      scriptName: "cutover-redeploy",
      url: `https://cutover-redeploy.${workers.subdomain}.workers.dev`,
      controlToken: "not-the-token-of-this-worker-0000",
      uploadedAt: now,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    };
    const e = await edgeStatus(handle).catch((x: unknown) => x as { code: string; message: string });
    expect(e).toMatchObject({ code: "E_EDGE_UNAUTHORIZED" });
    expect(clock - now).toBe(60_000);
    // A clock that does not move (a fixed --now) cannot make it loop: 30 tries at most.
    let sleeps = 0;
    const still = await edgeStatus({ ...handle, now: () => now, sleep: async () => void sleeps++ }).catch(
      (x: unknown) => x as { code: string },
    );
    expect(still).toMatchObject({ code: "E_EDGE_UNAUTHORIZED" });
    expect(sleeps).toBe(30);
  });
});
