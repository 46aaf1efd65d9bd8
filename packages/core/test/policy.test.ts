import { describe, expect, test } from "vitest";
import {
  afterFailure,
  nextAction,
  retryDelayMs,
  retryWindowEnd,
  type PolicyStep,
  type PolicyTimeline,
  type StepProgress,
} from "../src/index.js";

const T0 = Date.parse("2027-12-01T14:00:00Z");
const H = 3_600_000;

function timeline(extra: Partial<Record<string, Partial<PolicyStep>>> = {}): PolicyTimeline {
  const steps: PolicyStep[] = [
    { id: "lower", kind: "lower", at: T0 - 25 * H },
    { id: "preflight", kind: "preflight", at: T0 - H / 4 },
    { id: "handover", kind: "handover", at: T0 },
    { id: "swap", kind: "swap", at: T0, hold: { after: "lower", ms: 24 * H } },
    { id: "watch", kind: "watch", at: T0 },
    { id: "drain", kind: "drain", at: T0 + H / 2 },
    { id: "restore", kind: "restore", at: T0 + 24 * H },
  ];
  return { steps: steps.map((s) => ({ ...s, ...extra[s.id] })) };
}

const ids = (xs: Array<{ id: string }>) => xs.map((x) => x.id);
const decide = (t: PolicyTimeline, p: Record<string, StepProgress>, now: number) => nextAction(t, (s) => p[s.id], now);

describe("nextAction", () => {
  test("before anything: the first step's time wakes the runner; the rest wait for what they require", () => {
    const a = decide(timeline(), {}, T0 - 26 * H);
    expect(a.due).toEqual([]);
    expect(a.wakeAt).toBe(T0 - 25 * H);
    expect(Object.fromEntries(a.waiting.map((w) => [w.step.id, w.wait]))).toEqual({
      lower: { for: "time", until: T0 - 25 * H },
      preflight: { for: "step", step: "lower" },
      handover: { for: "step", step: "lower" },
      swap: { for: "step", step: "lower" },
      watch: { for: "step", step: "swap" },
      drain: { for: "step", step: "swap" },
      restore: { for: "step", step: "swap" },
    });
  });

  test("several steps due at once come in timeline order", () => {
    const done = { status: "done", attempts: 1, doneAt: T0 - 25 * H } as const;
    const a = decide(timeline(), { lower: done, preflight: done }, T0 + 1000);
    expect(ids(a.due)).toEqual(["handover"]);
    const b = decide(timeline(), { lower: done, preflight: done, handover: done, swap: done }, T0 + H);
    expect(ids(b.due)).toEqual(["watch", "drain"]);
  });

  test("the swap is held for the old TTL after a late drop, and that time wakes the runner", () => {
    const lowerDone = T0 - 23 * H;
    const done = { status: "done", attempts: 1 } as const;
    const p = { lower: { ...done, doneAt: lowerDone }, preflight: done, handover: done };
    const a = decide(timeline(), p, T0);
    expect(a.due).toEqual([]);
    expect(a.waiting.find((w) => w.step.id === "swap")?.wait).toEqual({
      for: "hold",
      until: lowerDone + 24 * H,
      after: "lower",
    });
    expect(a.wakeAt).toBe(lowerDone + 24 * H);
    expect(ids(decide(timeline(), p, lowerDone + 24 * H).due)).toEqual(["swap"]);
  });

  test("a hold on a step done elsewhere (before an edge upload) counts from when it was done", () => {
    const t: PolicyTimeline = {
      steps: timeline().steps.filter((s) => s.id !== "lower"),
      doneElsewhere: { lower: T0 - 23 * H },
    };
    const done = { status: "done", attempts: 1 } as const;
    const a = decide(t, { preflight: done, handover: done }, T0);
    expect(a.waiting.find((w) => w.step.id === "swap")?.wait).toMatchObject({ for: "hold", until: T0 + H });
    // Without the drop's time, nothing holds the swap.
    expect(ids(decide({ steps: t.steps }, { preflight: done, handover: done }, T0).due)).toEqual(["swap"]);
  });

  test("a retry waits out its backoff; a poll its poll time; a step cut short by a crash is due again", () => {
    const retry = decide(timeline(), { lower: { status: "pending", attempts: 2, retryAt: T0 - 24 * H } }, T0 - 25 * H);
    expect(retry.waiting[0]).toMatchObject({ step: { id: "lower" }, wait: { for: "retry", attempts: 2 } });
    expect(retry.wakeAt).toBe(T0 - 24 * H);
    const done = { status: "done", attempts: 1, doneAt: T0 - 25 * H } as const;
    const all = { lower: done, preflight: done, handover: done, swap: done };
    const poll = decide(timeline(), { ...all, watch: { status: "pending", attempts: 0, pollAt: T0 + 60_000 } }, T0 + 1);
    expect(poll.waiting.find((w) => w.step.id === "watch")?.wait).toEqual({ for: "poll", until: T0 + 60_000 });
    const crashed = decide(timeline(), { ...all, watch: { status: "running", attempts: 1 } }, T0 + 1);
    expect(ids(crashed.due)).toEqual(["watch"]);
  });

  test("a failed step wakes no one, and what requires it waits; every step finished ends the run", () => {
    const a = decide(
      timeline(),
      { lower: { status: "done", attempts: 1 }, preflight: { status: "failed", attempts: 4 } },
      T0,
    );
    expect(ids(a.failed)).toEqual(["preflight"]);
    expect(a.due).toEqual([]);
    // Only the restore-less steps that do not need the preflight could wake it: none here.
    expect(a.wakeAt).toBeUndefined();
    expect(a.finished).toBe(false);
    const all = Object.fromEntries(timeline().steps.map((s) => [s.id, { status: "done", attempts: 1 } as const]));
    expect(decide(timeline(), { ...all, drain: { status: "skipped", attempts: 0 } }, T0)).toMatchObject({
      finished: true,
      wakeAt: undefined,
    });
  });
});

describe("retries", () => {
  test("one backoff: 5 s doubling to 60 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelayMs(n))).toEqual([
      5000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000, 60_000,
    ]);
  });

  test("a step with a window is given up when the next try would fall after it; one without is tried again", () => {
    const swap: PolicyStep = { id: "swap", kind: "swap", at: T0 };
    const end = retryWindowEnd(swap, T0);
    expect(end).toBe(T0 + 15 * 60_000);
    expect(afterFailure({ ...swap, retryUntil: end }, 3, T0)).toEqual({ retry: true, retryAt: T0 + 20_000 });
    expect(afterFailure({ ...swap, retryUntil: end }, 3, end - 10_000)).toEqual({ retry: false });
    expect(afterFailure(swap, 30, end + 24 * H)).toEqual({ retry: true, retryAt: end + 24 * H + 60_000 });
  });

  test("windows: preparations until the swap, handover and swap 15 min, open-ended until their deadline, restore 6 h", () => {
    expect(retryWindowEnd({ kind: "preflight", at: T0 - H }, T0)).toBe(T0);
    expect(retryWindowEnd({ kind: "handover", at: T0 + H }, T0)).toBe(T0 + H + 15 * 60_000);
    expect(retryWindowEnd({ kind: "drain", at: T0, deadline: T0 + 5 * H }, T0)).toBe(T0 + 5 * H);
    expect(retryWindowEnd({ kind: "watch", at: T0 }, T0)).toBe(T0 + 72 * H);
    expect(retryWindowEnd({ kind: "restore", at: T0 + 24 * H }, T0)).toBe(T0 + 30 * H);
  });
});
