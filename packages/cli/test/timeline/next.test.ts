import { JOURNAL_STEPS, replayJournal } from "@cutover/testkit";
import { expect, test } from "vitest";
import { decide, failureEvent, nextOf, startEvent } from "../../src/timeline/run.js";
import type { ChangeSet } from "@cutover/core";
import { applyEvent, type RunState } from "@cutover/core/journal";
import type { Timeline, TimelineStep } from "@cutover/core";

const at = (iso: string) => new Date(iso);
const NO_CHANGES = { changes: [] } as unknown as ChangeSet;

function step(kind: TimelineStep["kind"], iso: string, extra: Partial<TimelineStep> = {}): TimelineStep {
  const base = { at: at(iso), label: "", notes: [] };
  switch (kind) {
    case "lower":
    case "restore":
      return { ...base, kind, changes: NO_CHANGES, ...extra } as TimelineStep;
    case "swap":
      return { ...base, kind, to: ["203.0.113.20"], writes: "each", changes: NO_CHANGES, ...extra } as TimelineStep;
    case "watch":
      return { ...base, kind, until: "until propagated", resolvers: "default" };
    case "drain":
      return { ...base, kind, until: "when quiet", quietMs: 1_800_000, deadline: at("2027-12-04T14:00:00Z") };
    case "preflight":
      return { ...base, kind, ports: [], tlsPorts: [], smtp: false };
    case "sync":
      return { ...base, kind, paths: 1 };
    case "handover":
      return { ...base, kind, mode: "redirect", ports: [], sockets: [], stopServices: [] };
  }
}

function timeline(steps: TimelineStep[]): Timeline {
  return {
    name: "t",
    now: at("2027-11-29T13:00:00Z"),
    swapAt: at("2027-12-01T14:00:00Z"),
    steps,
    targets: [],
    spf: [],
    siblings: [],
    info: [],
    limits: [],
    rollback: NO_CHANGES,
    warnings: [],
  };
}

const moveTimeline = () =>
  timeline([
    step("lower", "2027-11-30T13:00:00Z"),
    step("preflight", "2027-12-01T13:45:00Z"),
    step("handover", "2027-12-01T14:00:00Z"),
    step("swap", "2027-12-01T14:00:00Z"),
  ]);

function state(steps: RunState["steps"]): RunState {
  return { steps } as RunState;
}

test("a step that waits for another does not wake the runner at its own (past) time", () => {
  // The handover polls its relay again at 14:00:01; the swap, due at 14:00:00, waits for the handover.
  // The next wake is the poll, not 14:00:00: a runner woken "now" with nothing due spins (and with a
  // clock that only moves when it sleeps, never gets past 14:00:00).
  const s = state({
    lower: { status: "done", attempts: 1 },
    preflight: { status: "done", attempts: 1 },
    handover: { status: "pending", attempts: 0, result: { state: "waiting" }, nextPollAt: "2027-12-01T14:00:01.000Z" },
  });
  expect(nextOf(moveTimeline(), s).nextAt?.toISOString()).toBe("2027-12-01T14:00:01.000Z");
});

test("nothing can run when a step failed and every other one waits for it", () => {
  const s = state({
    lower: { status: "done", attempts: 1 },
    preflight: { status: "failed", attempts: 3, error: "x" },
  });
  expect(nextOf(moveTimeline(), s)).toEqual({ nextAt: undefined, finished: false });
});

test("the shared journal: the CLI's journal and runner code make core's decisions (same table as the Worker's)", async () => {
  const t = timeline(
    JOURNAL_STEPS.map((s) => step(s.kind, s.at, s.hold ? ({ hold: s.hold } as Partial<TimelineStep>) : {})),
  );
  // The journal as the runner writes it: the same events, applied by the code a replay runs.
  let st = applyEvent(undefined, {
    at: "2027-11-29T13:00:00.000Z",
    type: "run.created",
    plan: "t",
    hash: "h",
    originals: [],
  })!;
  const { expected, got } = await replayJournal({
    act(a) {
      const kind = a.step as TimelineStep["kind"];
      const when = at(a.at);
      if (a.act === "start") st = applyEvent(st, startEvent(st, kind, when))!;
      else if (a.act === "done") st = applyEvent(st, { at: a.at, type: "step.done", step: kind, result: {} })!;
      else if (a.act === "poll")
        st = applyEvent(st, { at: a.at, type: "step.progress", step: kind, result: { rounds: 1 }, next: a.until })!;
      else {
        // The attempt under way is the step the policy had due (a running step is due until it ends).
        const running = decide(t, st, when.getTime()).due.find((s) => s.id === kind)!;
        st = applyEvent(st, failureEvent(running, st, when, "503 from the provider"))!;
      }
    },
    decide: (when) => decide(t, st, when.getTime()),
  });
  expect(got).toEqual(expected);
});
