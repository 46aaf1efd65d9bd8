import { createServer } from "node:net";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { fastClock, makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";
import { signatureValid, startReceiver } from "./_receiver.js";

// In the future of the real clock too: the relay drains by its own clock at swap + 72 h.
const SWAP = "2027-12-01T14:00:00Z";
const SECRET = "s3cret-hmac-key-4711";
const PATH_TOKEN = "T0KEN-in-the-path";
const FAST = { backoffMs: 20, timeoutMs: 2000 };

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

test("a whole move sends signed events for every step's start and end, and the end of the move, to the webhook and the command", async () => {
  const hook = await startReceiver();
  cleanup.push(hook.close);
  const once = await startReceiver();
  cleanup.push(once.close);
  const move = await makeMoveDir({
    swapAt: SWAP,
    extra: `notify:
  webhook: { url: "${hook.url}/hooks/${PATH_TOKEN}", secretEnv: MOVE_HOOK_SECRET }
  command: cat >> notified.jsonl
`,
  });
  cleanup.push(move.close);
  const clock = fastClock("2027-11-29T10:00:00Z");
  const r = await runCli(["run", "--notify", `${once.url}/one-off`], {
    cwd: move.dir,
    now: clock.now,
    sleep: clock.sleep,
    env: { MOVE_HOOK_SECRET: SECRET },
    hooks: { notify: FAST },
  });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  // run waits for its deliveries before it exits: everything has arrived.
  const types = hook.received.map((x) => `${x.event.type}${x.event.step ? `:${x.event.step.kind}` : ""}`);
  for (const kind of ["lower", "preflight", "handover", "swap", "watch", "drain", "restore"]) {
    expect(types.filter((t) => t === `step.started:${kind}`)).toHaveLength(1);
    expect(types.filter((t) => t === `step.done:${kind}`)).toHaveLength(1);
  }
  expect(types.at(-1)).toBe("move.finished");
  expect(types.indexOf("step.done:lower")).toBeLessThan(types.indexOf("step.started:swap"));
  expect(types.indexOf("step.done:swap")).toBeLessThan(types.indexOf("step.started:restore"));
  // The event carries what a person needs; the signature checks out, a wrong secret does not.
  const swapDone = hook.received.find((x) => x.event.type === "step.done" && x.event.step?.kind === "swap")!;
  expect(swapDone.event).toMatchObject({
    version: 1,
    move: "move-test",
    runner: "run",
    step: { kind: "swap", scheduledAt: "2027-12-01T14:00:00.000Z" },
    summary: expect.stringMatching(/records changed/),
  });
  expect(swapDone.headers["x-cutover-event"]).toBe("step.done");
  expect(swapDone.path).toBe(`/hooks/${PATH_TOKEN}`);
  expect(hook.received.every((x) => signatureValid(x, SECRET))).toBe(true);
  expect(signatureValid(swapDone, "another secret")).toBe(false);
  // Event ids are unique and stable; the one-off --notify URL got the same events, unsigned.
  expect(new Set(hook.received.map((x) => x.event.id)).size).toBe(hook.received.length);
  expect(once.received.map((x) => x.event.id).sort()).toEqual(hook.received.map((x) => x.event.id).sort());
  expect(once.received[0]!.headers["x-cutover-signature"]).toBeUndefined();
  // The command got each event as JSON on its stdin.
  const lines = readFileSync(join(move.dir, "notified.jsonl"), "utf8").trim().split("\n");
  expect(lines.length).toBe(hook.received.length);
  expect(lines.map((l) => (JSON.parse(l) as { type: string }).type)).toContain("move.finished");
  // status says the last ones were delivered, naming the webhook by its origin only.
  const st = await runCli(["status", "--offline"], { cwd: move.dir, now: clock.now });
  expect(st.stdout).toMatch(/Notifications {2}last 10: 10 delivered, 0 not delivered; latest move\.finished/);
  const stJson = JSON.parse(
    (await runCli(["status", "--json", "--offline"], { cwd: move.dir, now: clock.now })).stdout,
  );
  expect(stJson.notifications.at(-1)).toMatchObject({ type: "move.finished", ok: true, attempts: 1 });
  // Neither the secret nor the URL's path appear in output or in any file under .cutover/ (journal,
  // state.json with the plan text it keeps, the notify record; each 0600).
  const notifyFile = join(move.dir, ".cutover/move-test/notify.json");
  expect(statSync(notifyFile).mode & 0o777).toBe(0o600);
  const files = readdirSync(join(move.dir, ".cutover"), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
  expect(files.map((f) => f.slice(move.dir.length + 1)).sort()).toEqual(
    expect.arrayContaining([".cutover/move-test/events.jsonl", ".cutover/move-test/state.json"]),
  );
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    expect({ f, secret: text.includes(SECRET), token: text.includes(PATH_TOKEN) }).toEqual({
      f,
      secret: false,
      token: false,
    });
    expect({ f, mode: statSync(f).mode & 0o777 }).toEqual({ f, mode: 0o600 });
  }
  // The journal keeps the plan as written, less the webhook's path: the origin says which hook it was.
  expect(readFileSync(join(move.dir, ".cutover/move-test/state.json"), "utf8")).toContain(`${hook.url}/[REDACTED]`);
  const everything = [r.stdout, st.stdout, JSON.stringify(stJson)].join("\n");
  expect(everything).not.toContain(SECRET);
  expect(everything).not.toContain(PATH_TOKEN);
});

test("a failing step is told at its first failure and when the runner gives up; a webhook that fails at first gets the event on a retry", async () => {
  const probe = createServer();
  const port = await new Promise<number>((r) =>
    probe.listen(0, "127.0.0.1", () => r((probe.address() as { port: number }).port)),
  );
  await new Promise((r) => probe.close(r));
  // The first two requests are answered 503: those deliveries are retried.
  const hook = await startReceiver((n) => (n < 2 ? 503 : 200));
  cleanup.push(hook.close);
  const move = await makeMoveDir({ swapAt: SWAP, ports: [port] });
  cleanup.push(move.close);
  const clock = fastClock("2027-11-29T10:00:00Z");
  const r = await runCli(["run", "--notify", `${hook.url}/x`], {
    cwd: move.dir,
    now: clock.now,
    sleep: clock.sleep,
    hooks: { notify: FAST },
  });
  expect(r.code).toBe(1);
  const failed = hook.received.filter((x) => x.event.type === "step.failed");
  expect(failed.map((x) => [x.event.step?.kind, x.event.willRetry])).toEqual([
    ["preflight", true],
    ["preflight", false],
  ]);
  expect(failed[1]!.event.error).toMatch(/ECONNREFUSED/);
  expect(hook.received.some((x) => x.event.type === "step.started" && x.event.step?.kind === "swap")).toBe(false);
  expect(hook.received.some((x) => x.event.type === "move.finished")).toBe(false);
  expect(hook.requests()).toBe(hook.received.length + 2);
  const st = JSON.parse((await runCli(["status", "--json", "--offline"], { cwd: move.dir, now: clock.now })).stdout);
  // Every delivery arrived in the end; those answered 503 took more than one attempt.
  const records = st.notifications as Array<{ ok: boolean; attempts: number }>;
  expect(records.every((d) => d.ok)).toBe(true);
  expect(records.filter((d) => d.attempts > 1).length).toBeGreaterThan(0);
});

test("a webhook that is down never holds up a step; status shows what was not delivered; tick --notify takes a one-off URL", async () => {
  const gone = await startReceiver();
  await gone.close(); // nothing listens there now
  const move = await makeMoveDir({ swapAt: SWAP });
  cleanup.push(move.close);
  const r = await runCli(["tick", "--notify", `${gone.url}/down`], {
    cwd: move.dir,
    now: new Date("2027-11-30T13:00:00Z"),
    hooks: { notify: { ...FAST, attempts: 2 } },
  });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("lower: done");
  expect(r.stderr).toMatch(
    /notification step\.started \(lower\) to webhook http:\/\/127\.0\.0\.1:\d+ not delivered: .*ECONNREFUSED/,
  );
  const st = await runCli(["status", "--offline"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
  expect(st.stdout).toMatch(/Notifications {2}last 2: 0 delivered, 2 not delivered/);
  expect(st.stdout).toMatch(
    /not delivered: step\.done \(lower\) to webhook http:\/\/127\.0\.0\.1:\d+ after 2 attempts/,
  );
  expect(st.stdout).not.toContain("/down");
});

test("bad notify settings are refused with a clear line: a plan's webhook that is not a URL, --notify with another scheme", async () => {
  const move = await makeMoveDir({ swapAt: SWAP, extra: "notify:\n  webhook: hooks.example.com/x\n" });
  cleanup.push(move.close);
  const p = await runCli(["run"], { cwd: move.dir, now: new Date("2027-11-29T10:00:00Z") });
  expect(p.code).not.toBe(0);
  expect(p.stderr).toMatch(/notify\.webhook/);
  expect(p.stderr).not.toMatch(/\n\s+at /);
  const ok = await makeMoveDir({ swapAt: SWAP });
  cleanup.push(ok.close);
  const f = await runCli(["tick", "--notify", "ftp://example.test/x"], {
    cwd: ok.dir,
    now: new Date("2027-11-29T10:00:00Z"),
  });
  expect(f.code).toBe(2);
  expect(f.stderr).toContain("--notify: ftp: is not supported");
  expect(existsSync(join(ok.dir, ".cutover/move-test/notify.json"))).toBe(false);
});
