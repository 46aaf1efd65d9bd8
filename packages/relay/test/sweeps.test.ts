// The sweeps over the open links, on a fake clock: which links are closed, when, and what each sweep does to them.
import { afterEach, expect, test, vi } from "vitest";
import type { Link } from "../src/forward.js";
import { planSweeps, startSweeps, sweepBuffers, sweepIdle, sweepKeepAlive } from "../src/sweeps.js";

/** A link whose byte count the test moves; it records what the sweeps did to it. */
class TestLink implements Link {
  closed = false;
  closedWith: Error | undefined;
  lastBytes = 0;
  lastChange: number;
  moved = 0;
  keptAlive: number[] = [];
  released = 0;
  private readonly links: Set<Link>;
  constructor(links: Set<Link>, now: number) {
    this.links = links;
    this.lastChange = now;
    links.add(this);
  }
  bytes(): number {
    return this.moved;
  }
  keepAlive(delayMs: number): void {
    this.keptAlive.push(delayMs);
  }
  releaseIdleBuffers(): void {
    this.released++;
  }
  destroy(error?: Error): void {
    // As the relay's links do: closing removes it from the live set (during the sweep's walk).
    this.closed = true;
    this.closedWith = error;
    this.links.delete(this);
  }
}

afterEach(() => void vi.useRealTimers());

test("sweepIdle: a link that moved bytes is kept; one silent for idleTimeoutMs is closed with the reason", () => {
  const live = new Set<Link>();
  const busy = new TestLink(live, 0);
  const quiet = new TestLink(live, 0);
  const late = new TestLink(live, 0);
  for (let t = 250; t <= 1000; t += 250) {
    busy.moved += 10;
    if (t === 750) late.moved += 1; // late moves once: its silence counts from the sweep that saw it
    sweepIdle(live, 1000, t);
  }
  expect(quiet.closed).toBe(true);
  expect(quiet.closedWith?.message).toBe("idle for 1000 ms");
  expect(busy.closed).toBe(false);
  expect(late.closed).toBe(false);
  sweepIdle(live, 1000, 1500);
  expect(late.closed).toBe(false); // silent 750 ms so far
  sweepIdle(live, 1000, 1750);
  expect(late.closed).toBe(true);
  expect([...live]).toEqual([busy]);
});

test("planSweeps: each sweep's period from the limits; 0 turns idle and keepalive off", () => {
  expect(planSweeps({ idleTimeoutMs: 3_600_000, keepAliveMs: 60_000 }, true)).toEqual({
    idleMs: 60_000, // at most a minute late on an hour
    keepAliveMs: 30_000,
    buffersMs: 5_000,
  });
  expect(planSweeps({ idleTimeoutMs: 200, keepAliveMs: 400 }, false)).toEqual({
    idleMs: 100, // never more often than every 100 ms
    keepAliveMs: 500,
    buffersMs: undefined, // the stream path has no buffers of its own
  });
  expect(planSweeps({ idleTimeoutMs: 0, keepAliveMs: 0 }, true)).toMatchObject({
    idleMs: undefined,
    keepAliveMs: undefined,
  });
});

test("startSweeps on a fake clock: an idle link is closed between 1 and 1.25 × idleTimeoutMs; keepalive and buffers each sweep; stop ends them", () => {
  vi.useFakeTimers({ now: 0 });
  const live = new Set<Link>();
  const idle = new TestLink(live, 0);
  const sweeps = startSweeps(live, { idleTimeoutMs: 4000, keepAliveMs: 2000 }, { buffers: true });
  vi.advanceTimersByTime(3999);
  expect(idle.closed).toBe(false);
  vi.advanceTimersByTime(1001); // 5000 = 1.25 × 4000
  expect(idle.closed).toBe(true);
  const open = new TestLink(live, Date.now());
  for (let i = 0; i < 5; i++) {
    open.moved++; // busy: the idle sweep keeps it
    vi.advanceTimersByTime(1000);
  }
  expect(open.closed).toBe(false);
  expect(open.keptAlive).toEqual([2000, 2000, 2000, 2000, 2000]); // every keepAliveMs / 2 (the link does it once)
  expect(open.released).toBe(1); // every 5 s
  sweeps.stop();
  vi.advanceTimersByTime(60_000); // silent, but no sweep runs any more
  expect(open.closed).toBe(false);
  expect(open.released).toBe(1);
});

test("sweepKeepAlive and sweepBuffers ask every link, and a link without buffers of its own is skipped", () => {
  const live = new Set<Link>();
  const a = new TestLink(live, 0);
  const plain: Link = {
    closed: false,
    lastBytes: 0,
    lastChange: 0,
    bytes: () => 0,
    keepAlive: () => undefined,
    destroy: () => undefined,
  };
  live.add(plain);
  sweepKeepAlive(live, 60_000);
  sweepBuffers(live);
  expect(a.keptAlive).toEqual([60_000]);
  expect(a.released).toBe(1);
});
