import { createHmac, timingSafeEqual } from "node:crypto";
import { applyChangeSet } from "@cutover/dns";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { CloudflareFake } from "@cutover/testkit/dns-fakes";
import { planEdgeDeployment, type EdgeNotifyEvent, type EdgePlanInput } from "../src/index.js";
import { cloudflareOn, dohFrom, DOH_URL, useWorkers, waitFor, type Outbound } from "./_edge.js";
import type { DnsRecord } from "@cutover/core";
import { discoverTargets, planLower, planRestore, planRollback, planSwap } from "@cutover/core";

const CF_TOKEN = "cf-test-token-notify-0123456789";
const CONTROL = "control-token-for-notify-tests-0123456789";
// A chat-style webhook: the token is in the path, so the URL itself is a secret.
const HOOK = "https://hooks.test/services/T0KEN-in-the-path-5555";
const HMAC = "hmac-secret-for-the-webhook-7777";
const MOVE = { old: { ipv4: "198.51.100.10" }, new: { ipv4: "203.0.113.20" } };

const { server, startWorker } = useWorkers();

const order = (e: EdgeNotifyEvent) => ["step.started", "step.failed", "step.done", "move.finished"].indexOf(e.type);

interface Received {
  event: EdgeNotifyEvent;
  headers: Record<string, string>;
  signatureOk: boolean;
  receivedAt: number;
}

/** The webhook receiver: checks each signature as a receiver would; `answer` decides the reply. */
function receiver(answer: (n: number) => Promise<Response> | Response = () => new Response("ok")) {
  const got: Received[] = [];
  let n = 0;
  const handler = http.post(HOOK, async ({ request }) => {
    const body = await request.text();
    const headers = Object.fromEntries(request.headers.entries());
    const expected = `sha256=${createHmac("sha256", HMAC).update(`${headers["x-cutover-timestamp"]}.${body}`).digest("hex")}`;
    const sig = headers["x-cutover-signature"] ?? "";
    const signatureOk = sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
    got.push({ event: JSON.parse(body) as EdgeNotifyEvent, headers, signatureOk, receivedAt: Date.now() });
    return answer(++n);
  });
  return { handler, got };
}

function setup() {
  const fake = new CloudflareFake({
    baseUrl: "https://api.cloudflare.test/client/v4",
    tokens: { [CF_TOKEN]: "write" },
  });
  fake.addZone("example.com");
  fake.addRecord("example.com", { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
  server.use(...fake.handlers);
  const provider = cloudflareOn(fake, ["example.com"], CF_TOKEN);
  return { fake, provider };
}

async function deployment(
  fake: CloudflareFake,
  provider: ReturnType<typeof cloudflareOn>,
  times: { swap: number; restore: number },
) {
  const records: DnsRecord[] = await provider.listRecords("example.com");
  const { targets } = discoverTargets(records, MOVE);
  const caps = provider.capabilities;
  const lower = planLower(targets, 300, caps);
  expect((await applyChangeSet(provider, lower)).complete).toBe(true);
  const now = Date.now();
  const input: EdgePlanInput = {
    name: "notify-test",
    provider: "cloudflare",
    apiUrl: fake.baseUrl,
    zones: ["example.com"],
    swapAt: new Date(times.swap),
    steps: [
      {
        kind: "lower" as const,
        label: "",
        notes: [] as string[],
        at: new Date(now - 3_700_000),
        summary: "lower TTL",
        changes: lower,
      },
      {
        kind: "swap" as const,
        to: ["203.0.113.20"],
        writes: "batch" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.swap),
        summary: "swap 1 record",
        changes: planSwap(targets, MOVE, 300, caps),
      },
      {
        kind: "restore" as const,
        label: "",
        notes: [] as string[],
        at: new Date(times.restore),
        summary: "restore TTL",
        changes: planRestore(targets, MOVE, 300, caps),
      },
    ],
    done: ["lower"],
    lowerDoneAt: new Date(now - 3_700_000),
    rollback: planRollback(targets, MOVE, 300, caps),
    originals: targets,
    resolvers: [DOH_URL],
    checkOffsetsMs: [1500],
    retry: { firstMs: 1000, maxMs: 5000 },
    notify: { webhook: { url: HOOK, signed: true } },
    now: new Date(now),
  };
  return planEdgeDeployment(input);
}

describe("notifications from the edge Worker (miniflare)", () => {
  it("sends the move's events, signed, retried after a 500; a slow webhook holds up no step; no secret shows", async () => {
    const { fake, provider } = setup();
    const now = Date.now();
    const d = await deployment(fake, provider, { swap: now + 8000, restore: now + 11_000 });
    // The webhook's first answer is slow (2.5 s, while the swap and the check are due) and a 500: the
    // steps still run at their times.
    const hook = receiver(async (n) => {
      if (n > 1) return new Response("ok");
      await new Promise((r) => setTimeout(r, 2500));
      return new Response("busy", { status: 500 });
    });
    const outbound: Outbound = {
      handlers: [hook.handler, ...fake.handlers, dohFrom(fake, "example.com")],
      unhandled: [],
      seen: [],
    };
    const worker = await startWorker({
      data: d.data,
      secrets: {
        CONTROL_TOKEN: CONTROL,
        CLOUDFLARE_API_TOKEN: CF_TOKEN,
        NOTIFY_WEBHOOK_URL: HOOK,
        NOTIFY_SECRET: HMAC,
      },
      outbound,
    });
    await worker.call("POST", "/arm");
    const done = await waitFor(worker, (s) => s.state === "done", 40_000);
    for (const s of done.steps) {
      const late = Date.parse(s.startedAt!) - Date.parse(s.at);
      expect(late, `${s.id} started ${late} ms late`).toBeLessThan(1000);
    }
    const all = await waitFor(
      worker,
      (s) =>
        (s.notifications?.deliveries ?? []).length === 7 &&
        s.notifications!.deliveries.every((x) => x.status !== "pending"),
      60_000,
    );
    expect(all.notifications!.deliveries.map((x) => `${x.type} ${x.status}`)).toEqual([
      "step.started delivered",
      "step.done delivered",
      "step.started delivered",
      "step.done delivered",
      "step.started delivered",
      "step.done delivered",
      "move.finished delivered",
    ]);
    expect(all.notifications!.deliveries[0]!.attempts).toBe(2);
    expect(all.notifications!.target).toBe("webhook https://hooks.test");
    // The receiver saw every event once, and the first one twice (the 500, then the retry with its id);
    // while that retry waited, the later events went out.
    const got = hook.got;
    expect(got.length).toBe(8);
    expect(got.every((g) => g.signatureOk)).toBe(true);
    const ids = got.map((g) => g.event.id);
    expect(ids.filter((id) => id === got[0]!.event.id).length).toBe(2);
    const byId = new Map(got.map((g) => [g.event.id, g.event]));
    const events = [...byId.values()].sort((a, b) => a.at.localeCompare(b.at) || order(a) - order(b));
    expect(events.map((e) => `${e.type} ${e.step?.id ?? ""}`)).toEqual([
      "step.started swap",
      "step.done swap",
      "step.started check-1",
      "step.done check-1",
      "step.started restore",
      "step.done restore",
      "move.finished ",
    ]);
    // The format of docs/notifications.md, with runner "edge".
    expect(events[1]).toMatchObject({
      version: 1,
      type: "step.done",
      move: "notify-test",
      runner: "edge",
      step: { kind: "swap", label: "swap 1 record", scheduledAt: new Date(now + 8000).toISOString(), attempt: 1 },
      summary: "1 applied, 0 already in place, 0 failed, 0 changed by someone else",
    });
    expect(events[2]!.step!.kind).toBe("watch");
    expect(events[1]!.text).toBe(
      "notify-test: swap done: 1 applied, 0 already in place, 0 failed, 0 changed by someone else",
    );
    expect(got[0]!.headers["x-cutover-event"]).toBe("step.started");
    expect(got[0]!.headers["x-cutover-delivery"]).toBe(events[0]!.id);

    // An alarm delivered again or a tick sends nothing twice.
    await worker.call("POST", "/tick");
    await worker.call("POST", "/tick");
    await new Promise((r) => setTimeout(r, 500));
    expect(hook.got.length).toBe(8);

    // The webhook URL (token in its path) and the HMAC secret are in no log line, status, plan module or metadata.
    const shown =
      JSON.stringify(await worker.status()) +
      JSON.stringify(d.modules) +
      JSON.stringify(d.metadata) +
      JSON.stringify(d.data);
    for (const secret of [HOOK, "T0KEN-in-the-path-5555", HMAC, CF_TOKEN, CONTROL]) expect(shown).not.toContain(secret);
    expect(d.secretNames).toEqual(["CLOUDFLARE_API_TOKEN", "CONTROL_TOKEN", "NOTIFY_WEBHOOK_URL", "NOTIFY_SECRET"]);
    expect(JSON.stringify(all.log)).toContain("notify step.done to webhook https://hooks.test: delivered");
    expect(outbound.unhandled).toEqual([]);
    await provider.close?.();
  }, 120_000);

  it("a failing step is told once with willRetry; a webhook that is down is given up after 5 attempts, and the step goes on", async () => {
    const { fake, provider } = setup();
    const now = Date.now();
    const d = await deployment(fake, provider, { swap: now + 6000, restore: now + 86_400_000 });
    const hook = receiver(() => new Response("down", { status: 503 }));
    const refused = http.post(`${fake.baseUrl}/zones/:zone/dns_records/batch`, () =>
      HttpResponse.json(
        { success: false, errors: [{ code: 10000, message: "Authentication error" }], messages: [], result: null },
        { status: 403 },
      ),
    );
    const outbound: Outbound = { handlers: [hook.handler, refused, ...fake.handlers], unhandled: [], seen: [] };
    const worker = await startWorker({
      data: d.data,
      secrets: {
        CONTROL_TOKEN: CONTROL,
        CLOUDFLARE_API_TOKEN: CF_TOKEN,
        NOTIFY_WEBHOOK_URL: HOOK,
        NOTIFY_SECRET: HMAC,
      },
      outbound,
    });
    await worker.call("POST", "/arm");
    const s = await waitFor(
      worker,
      (x) => (x.notifications?.deliveries ?? []).filter((n) => n.status === "failed").length === 2,
      60_000,
    );
    const swap = s.steps.find((x) => x.id === "swap")!;
    expect(swap.status).toBe("failed");
    expect(swap.attempts).toBeGreaterThanOrEqual(2); // it kept trying while the webhook was down
    const failed = hook.got.map((g) => g.event).find((e) => e.type === "step.failed")!;
    expect(failed).toMatchObject({ runner: "edge", willRetry: true, step: { kind: "swap", attempt: 1 } });
    expect(failed.error).toContain("403");
    // Each event was tried 5 times (1, 2, 4, 8 s apart), then given up and logged.
    expect(s.notifications!.deliveries.map((n) => `${n.type} ${n.status} ${n.attempts} ${n.httpStatus}`)).toEqual([
      "step.started failed 5 503",
      "step.failed failed 5 503",
    ]);
    expect(hook.got.filter((g) => g.event.type === "step.failed").length).toBe(5);
    expect(JSON.stringify(s.log)).toContain(
      "notify step.failed to webhook https://hooks.test: not delivered after 5 attempts: HTTP 503",
    );
    expect(JSON.stringify(s)).not.toContain(HMAC);
    await worker.call("POST", "/cancel");
    await provider.close?.();
  }, 120_000);
});
