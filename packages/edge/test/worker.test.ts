import { applyChangeSet, type DnsProvider } from "@cutover/dns";
import { createLinodeProvider } from "@cutover/dns/linode";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { CloudflareFake, LinodeFake } from "@cutover/testkit/dns-fakes";
import { planEdgeDeployment, type EdgePlanInput } from "../src/index.js";
import { cloudflareOn, dohFrom, DOH_URL, useWorkers, waitFor, type Outbound } from "./_edge.js";
import type { DnsRecord } from "@cutover/core";
import { discoverTargets, planLower, planRestore, planRollback, planSwap } from "@cutover/core";

const CF_TOKEN = "cf-test-token-0123456789";
const LINODE_TOKEN = "linode-test-token-abcdef0123";
const CONTROL = "control-token-for-tests-0123456789abcdef";
const MOVE = { old: { ipv4: "198.51.100.10" }, new: { ipv4: "203.0.113.20" } };

// The Node side (planning, like the admin's machine) reads the same fakes through msw.
const { server, startWorker } = useWorkers();

async function readAll(p: DnsProvider): Promise<DnsRecord[]> {
  return p.listRecords("example.com");
}

function stepsOf(
  records: DnsRecord[],
  p: DnsProvider,
  lowTtl: number,
  times: { lower: number; swap: number; restore: number },
) {
  const { targets } = discoverTargets(records, MOVE);
  const caps = p.capabilities;
  return {
    targets,
    steps: [
      {
        kind: "lower" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.lower),
        summary: "lower TTL",
        changes: planLower(targets, lowTtl, caps),
      },
      {
        kind: "swap" as const,
        to: ["203.0.113.20"],
        writes: "batch" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.swap),
        summary: "swap",
        changes: planSwap(targets, MOVE, lowTtl, caps),
      },
      {
        kind: "restore" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.restore),
        summary: "restore TTL",
        changes: planRestore(targets, MOVE, lowTtl, caps),
      },
    ],
    rollback: planRollback(targets, MOVE, lowTtl, caps),
  };
}

describe("the Worker in miniflare, Cloudflare DNS", () => {
  function setup() {
    const fake = new CloudflareFake({ baseUrl: "https://api.cloudflare.test/client/v4" });
    fake.addZone("example.com");
    fake.addRecord("example.com", { name: "@", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord("example.com", { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord("example.com", { name: "other", type: "A", content: "192.0.2.7", ttl: 3600 });
    server.use(...fake.handlers);
    const outbound: Outbound = {
      handlers: [...fake.handlers, dohFrom(fake, "example.com")],
      unhandled: [],
      seen: [],
    };
    const provider = cloudflareOn(fake, ["example.com"], CF_TOKEN);
    return { fake, outbound, provider };
  }

  it("runs swap, DoH check and restore at their times; a 500 is retried; a repeated alarm changes nothing", async () => {
    const { fake, outbound, provider } = setup();
    const records = await readAll(provider);
    const now = Date.now();
    // The swap 8 s out: starting workerd on a loaded machine takes seconds, and the alarm must still be ahead.
    const plan = stepsOf(records, provider, 300, { lower: now - 3_700_000, swap: now + 8000, restore: now + 11_000 });
    // The TTL drop was done on the admin's machine an hour ago; the rest goes to the edge.
    const lowered = await applyChangeSet(provider, plan.steps[0]!.changes);
    expect(lowered.complete).toBe(true);
    const input: EdgePlanInput = {
      name: "colo-to-linode",
      provider: "cloudflare",
      apiUrl: fake.baseUrl,
      zones: ["example.com"],
      swapAt: new Date(now + 8000),
      steps: plan.steps,
      done: ["lower"],
      lowerDoneAt: new Date(now - 3_700_000),
      rollback: plan.rollback,
      originals: plan.targets,
      resolvers: [DOH_URL],
      checkOffsetsMs: [1500],
      retry: { firstMs: 1000, maxMs: 5000 },
      now: new Date(now),
    };
    const deployment = planEdgeDeployment(input);
    expect(deployment.data.steps.map((s) => s.id)).toEqual(["swap", "check-1", "restore"]);
    const writesBefore = fake.writes().length;
    // The first batch write answers 500: the provider waits and sends it again.
    fake.failNext({ kind: "status", status: 500 }, (r) => r.method === "POST" && r.path.endsWith("/dns_records/batch"));
    const worker = await startWorker({
      data: deployment.data,
      secrets: { CONTROL_TOKEN: CONTROL, CLOUDFLARE_API_TOKEN: CF_TOKEN },
      outbound,
    });
    const armed = await worker.call("POST", "/arm");
    expect(armed.status).toBe(200);
    expect((armed.body as { nextAlarm: string }).nextAlarm).toBe(new Date(now + 8000).toISOString());

    const done = await waitFor(worker, (s) => s.state === "done");
    for (const s of done.steps) {
      expect(s.status).toBe("done");
      // Alarms fire at their times (miniflare: a few ms late); the step starts within 1 s of its time.
      const late = Date.parse(s.startedAt!) - Date.parse(s.at);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThan(1000);
    }
    expect(done.nextAlarm).toBeNull();
    const swap = done.steps.find((s) => s.id === "swap")!;
    expect(swap.attempts).toBe(1);
    const swapLog = done.log.find((l) => l.step === "swap" && l.message.startsWith("swap done"))!;
    expect(swapLog.message).toContain("1 API call(s) failed and were retried");
    const calls = (swapLog.data as { calls: string[] }).calls;
    expect(calls.filter((c) => c.includes("/dns_records/batch")).map((c) => c.split(" → ")[1]!.slice(0, 3))).toEqual([
      "500",
      "200",
    ]);
    const check = done.steps.find((s) => s.id === "check-1")!;
    expect((check.result as { summary: string }).summary).toBe("2/2 answers new, 0 old, 0 errors");
    expect(done.log.at(-1)!.message).toMatch(/^done: all 3 steps finished; alarm removed/);
    // The records are on the new host with their original TTL; the unrelated one is untouched.
    const after = fake.list("example.com").map((r) => `${r.name} ${r.content} ${r.ttl}`);
    expect(after).toEqual([
      "example.com 203.0.113.20 3600",
      "www.example.com 203.0.113.20 3600",
      "other.example.com 192.0.2.7 3600",
    ]);

    // At-least-once alarms: running what is due again writes nothing and counts no new attempt.
    const writes = fake.writes().length;
    expect(writes - writesBefore).toBe(3); // swap (500 + retry) and restore: one batch each, plus the failed one
    await worker.call("POST", "/tick");
    await worker.call("POST", "/tick");
    expect(fake.writes().length).toBe(writes);
    const again = await worker.status();
    expect(again.steps.map((s) => s.attempts)).toEqual([1, 1, 1]);
    expect(again.state).toBe("done");

    // No secret in anything the Worker shows.
    const text = JSON.stringify(again);
    expect(text).not.toContain(CF_TOKEN);
    expect(text).not.toContain(CONTROL);
    expect(outbound.unhandled).toEqual([]);
    await provider.close?.();
  });

  it("a check that no DoH resolver answered is done with a warning, logged at warning level and in the status", async () => {
    const { fake, provider } = setup();
    const outbound: Outbound = {
      handlers: [...fake.handlers, http.post(DOH_URL, () => new HttpResponse("overloaded", { status: 503 }))],
      unhandled: [],
      seen: [],
    };
    const now = Date.now();
    const plan = stepsOf(await readAll(provider), provider, 300, {
      lower: now - 3_700_000,
      swap: now + 86_400_000,
      restore: now + 90_000_000,
    });
    await applyChangeSet(provider, plan.steps[0]!.changes);
    const d = planEdgeDeployment({
      name: "silent-resolvers",
      provider: "cloudflare",
      apiUrl: fake.baseUrl,
      zones: ["example.com"],
      swapAt: new Date(now + 1500),
      steps: [plan.steps[1]!].map((s) => ({ ...s, at: new Date(now + 1500) })),
      done: ["lower"],
      lowerDoneAt: new Date(now - 3_700_000),
      rollback: plan.rollback,
      originals: plan.targets,
      resolvers: [DOH_URL],
      checkOffsetsMs: [1500],
      now: new Date(now),
    });
    expect(d.data.steps.map((s) => s.id)).toEqual(["swap", "check-1"]);
    const worker = await startWorker({
      data: d.data,
      secrets: { CONTROL_TOKEN: CONTROL, CLOUDFLARE_API_TOKEN: CF_TOKEN },
      outbound,
    });
    await worker.call("POST", "/arm");
    const s = await waitFor(worker, (x) => x.state === "done");
    const check = s.steps[1]!;
    expect(check.status).toBe("done");
    expect(s.steps[0]!.warning).toBeNull();
    expect(check.warning).toMatch(/^no DoH resolver answered \(1 asked: .*503.*\); propagation was not seen$/);
    const entry = s.log.find((l) => l.step === "check-1" && l.message.startsWith("check-1 done"))!;
    expect(entry.level).toBe("warn");
    expect(entry.message).toContain("warning: no DoH resolver answered");
    await provider.close?.();
  });

  it("refuses every request without the control token", async () => {
    const { fake, outbound, provider } = setup();
    const now = Date.now();
    const plan = stepsOf(await readAll(provider), provider, 300, {
      lower: now + 60_000,
      swap: now + 7_200_000,
      restore: now + 9_000_000,
    });
    const d = planEdgeDeployment({
      name: "auth",
      provider: "cloudflare",
      apiUrl: fake.baseUrl,
      zones: ["example.com"],
      swapAt: new Date(now + 7_200_000),
      steps: plan.steps,
      rollback: plan.rollback,
      originals: plan.targets,
      now: new Date(now),
    });
    const worker = await startWorker({
      data: d.data,
      secrets: { CONTROL_TOKEN: CONTROL, CLOUDFLARE_API_TOKEN: CF_TOKEN },
      outbound,
    });
    for (const [method, path] of [
      ["GET", "/status"],
      ["POST", "/arm"],
      ["POST", "/tick"],
      ["POST", "/cancel"],
    ] as const) {
      expect((await worker.call(method, path, null)).status).toBe(401);
      expect((await worker.call(method, path, `${CONTROL}x`)).status).toBe(401);
      expect((await worker.call(method, path, CONTROL.slice(0, -1))).status).toBe(401);
    }
    const s = await worker.status();
    expect(s.state).toBe("new");
    expect(fake.writes()).toEqual([]);
    await provider.close?.();
  });

  it("a step whose change is already in place writes nothing (read first)", async () => {
    const { fake, outbound, provider } = setup();
    const now = Date.now();
    const plan = stepsOf(await readAll(provider), provider, 300, {
      lower: now - 3_700_000,
      swap: now + 1500,
      restore: now + 86_400_000,
    });
    await applyChangeSet(provider, plan.steps[0]!.changes);
    // Someone (a previous attempt whose answer was lost) already swapped the records.
    await applyChangeSet(provider, plan.steps[1]!.changes);
    const writes = fake.writes().length;
    const d = planEdgeDeployment({
      name: "already",
      provider: "cloudflare",
      apiUrl: fake.baseUrl,
      zones: ["example.com"],
      swapAt: new Date(now + 1500),
      steps: plan.steps,
      done: ["lower"],
      lowerDoneAt: new Date(now - 3_700_000),
      rollback: plan.rollback,
      originals: plan.targets,
      checkOffsetsMs: [],
      now: new Date(now),
    });
    const worker = await startWorker({
      data: d.data,
      secrets: { CONTROL_TOKEN: CONTROL, CLOUDFLARE_API_TOKEN: CF_TOKEN },
      outbound,
    });
    await worker.call("POST", "/arm");
    const s = await waitFor(worker, (x) => x.steps[0]!.status === "done");
    expect((s.steps[0]!.result as { summary: string }).summary).toBe(
      "0 applied, 2 already in place, 0 failed, 0 changed by someone else",
    );
    expect(fake.writes().length).toBe(writes);
    expect(s.nextAlarm).toBe(new Date(now + 86_400_000).toISOString());
    await provider.close?.();
  });
});

describe("the Worker in miniflare, Linode DNS", () => {
  it("retries a failed step after its backoff, holds the swap until the old TTL has passed, and cancels", async () => {
    const fake = new LinodeFake({ baseUrl: "https://api.linode.test/v4" });
    fake.addDomain("example.com");
    fake.addRecord("example.com", { name: "", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    fake.addRecord("example.com", { name: "www", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    server.use(...fake.handlers);
    const outbound: Outbound = { handlers: fake.handlers, unhandled: [], seen: [] };
    const provider = createLinodeProvider({
      provider: "linode",
      zones: ["example.com"],
      apiUrl: fake.baseUrl,
      options: {},
      baseDir: "/",
      env: { LINODE_TOKEN },
    });
    const now = Date.now();
    const plan = stepsOf(await readAll(provider), provider, 300, {
      lower: now + 1500,
      swap: now + 2500,
      restore: now + 86_400_000,
    });
    await provider.close?.();
    const d = planEdgeDeployment({
      name: "linode-move",
      provider: "linode",
      apiUrl: fake.baseUrl,
      zones: ["example.com"],
      swapAt: new Date(now + 2500),
      steps: plan.steps,
      rollback: plan.rollback,
      originals: plan.targets,
      retry: { firstMs: 1000, maxMs: 5000 },
      now: new Date(now),
    });
    expect(d.metadata.bindings.filter((b) => b.type === "secret_text").map((b) => b.name)).toEqual([
      "LINODE_TOKEN",
      "CONTROL_TOKEN",
    ]);
    // Every attempt the provider makes in the first run answers 500 (5 tries for each of the 2 records),
    // so the step fails
    // and the Durable Object tries it again a second later.
    for (let i = 0; i < 10; i++) fake.failNext({ kind: "status", status: 500 }, (r) => r.method === "PUT");
    const worker = await startWorker({ data: d.data, secrets: { CONTROL_TOKEN: CONTROL, LINODE_TOKEN }, outbound });
    await worker.call("POST", "/arm");
    const s = await waitFor(worker, (x) => x.steps[0]!.status === "done");
    const lower = s.steps[0]!;
    expect(lower.attempts).toBe(2);
    const failed = s.log.find((l) => l.step === "lower" && l.level === "error")!;
    expect(failed.message).toMatch(/^lower failed \(attempt 1\): .*500.*; trying again at /);
    expect(fake.list("example.com").map((r) => r.ttl_sec)).toEqual([300, 300]);
    // The swap is due, but the TTL drop landed late: it waits one old TTL (3600 s) after the drop.
    const swap = s.steps[1]!;
    expect(swap.status).toBe("pending");
    expect(Date.parse(s.nextAlarm!)).toBe(Date.parse(lower.doneAt!) + 3_600_000);
    // Cancel (what rollback does first): the alarm goes, nothing more runs.
    const c = await worker.call("POST", "/cancel");
    expect(c.status).toBe(200);
    const cancelled = c.body as { state: string; nextAlarm: string | null };
    expect(cancelled.state).toBe("cancelled");
    expect(cancelled.nextAlarm).toBeNull();
    await worker.call("POST", "/tick");
    expect(fake.list("example.com").map((r) => r.target)).toEqual(["198.51.100.10", "198.51.100.10"]);
    const text = JSON.stringify(await worker.status());
    expect(text).not.toContain(LINODE_TOKEN);
    expect(outbound.unhandled).toEqual([]);
  });
});
