// The hold's queue on its own, with a clock the test moves: arrival order on release (each once the one before
// it is connected, late arrivals behind), its room, its figures, and stop. The hold with real services and
// sync is in hold.test.ts.
import { expect, test } from "vitest";
import { parseRelayConfig, type UpstreamConfig } from "../src/config.js";
import type { Held, RelayState } from "../src/connection.js";
import { Hold, planHoldStatus, toUpstream } from "../src/hold.js";
import type { StreamListener } from "../src/listeners.js";
import type { HandoverStatus } from "@cutover/core";

function setup() {
  let clock = 10_000;
  let state: RelayState = "running";
  const logs: string[] = [];
  const config = parseRelayConfig({
    listeners: [{ kind: "tcp", port: 8080, upstream: { kind: "tcp", host: "203.0.113.20", port: 80 } }],
    handover: { mode: "rebind", hold: { maxConnections: 3, maxMs: 5000 } },
  });
  const status: HandoverStatus = {
    mode: "rebind",
    state: "waiting",
    at: null,
    gapMs: null,
    firewall: null,
    rules: [],
    stopped: [],
    error: null,
    hold: planHoldStatus(config.handover!.hold!),
  };
  const listener = {
    config: config.listeners[0],
    stats: { name: "web", refused: 0 },
  } as unknown as StreamListener;
  const hold = new Hold({
    config,
    status,
    log: (l) => void logs.push(l),
    now: () => clock,
    state: () => state,
    listeners: [listener],
    drain: () => undefined,
  });
  const order: string[] = [];
  /** A held connection whose connect the test completes (answer) by name. */
  const answers = new Map<string, (ok: boolean) => void>();
  const held = (name: string): Held<StreamListener> => ({
    l: listener,
    since: clock,
    forward(u: UpstreamConfig, done) {
      order.push(`${name} → ${u.kind === "tcp" ? `${u.host}:${u.port}` : u.kind}`);
      answers.set(name, done);
    },
    drop: () => void order.push(`${name} dropped`),
  });
  return {
    hold,
    status,
    listener,
    logs,
    order,
    held,
    answer: (name: string, ok = true) => answers.get(name)!(ok),
    tick: (ms: number) => (clock += ms),
    setState: (s: RelayState) => (state = s),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

test("release: in arrival order, each once the one before it is connected; one arriving meanwhile waits behind", async () => {
  const t = setup();
  t.hold.start(t.status);
  expect(t.hold.holding).toBe(true);
  expect(t.status).toMatchObject({
    state: "holding",
    hold: { state: "holding", startedAt: "1970-01-01T00:00:10.000Z" },
  });
  t.hold.add(t.held("a"));
  t.tick(100);
  t.hold.add(t.held("b"));
  t.tick(400);
  const released = t.hold.release(toUpstream);
  expect(t.order).toEqual(["a → 203.0.113.20:80"]); // b waits for a's connect
  t.hold.add(t.held("c")); // arrives during the release: still held, behind b
  t.answer("a");
  await settle();
  expect(t.order.at(-1)).toBe("b → 203.0.113.20:80");
  t.answer("b", false); // b's upstream refused it: counted, the queue goes on
  await settle();
  expect(t.order.at(-1)).toBe("c → 203.0.113.20:80");
  t.answer("c");
  await released;
  expect(t.hold.holding).toBe(false);
  expect(t.status.hold).toMatchObject({ state: "released", held: 3, failed: 1, longestWaitMs: 500, windowMs: 500 });
  expect(t.logs.at(-1)).toBe(
    "hold: released 3 connection(s) (2 waiting at the end), window 500 ms, longest wait 500 ms",
  );
});

test("room: past hold.maxConnections a connection is refused and counted, on the hold and on its listener", () => {
  const t = setup();
  t.hold.start(t.status);
  for (const name of ["a", "b", "c"]) {
    expect(t.hold.room(t.listener)).toBe(true);
    t.hold.add(t.held(name));
  }
  expect(t.hold.room(t.listener)).toBe(false);
  expect(t.status.hold).toMatchObject({ refused: 1, held: 3 });
  expect(t.listener.stats.refused).toBe(1);
  expect(t.logs.at(-1)).toMatch(/refused a connection: 3 held already \(handover.hold.maxConnections\)/);
  t.tick(250);
  expect(t.hold.snapshot(t.status.hold!)).toMatchObject({ heldNow: 3, windowMs: 250, longestWaitMs: 250 });
  t.hold.stop();
});

test("stop drops every held connection; a release after stop drops instead of connecting", async () => {
  const t = setup();
  t.hold.start(t.status);
  t.hold.add(t.held("a"));
  t.hold.stop();
  expect(t.order).toEqual(["a dropped"]);
  t.hold.add(t.held("b"));
  t.setState("stopped");
  await t.hold.release(toUpstream);
  expect(t.order).toEqual(["a dropped", "b dropped"]);
});
