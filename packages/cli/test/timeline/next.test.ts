import { expect, test } from "vitest";
import type { RunState } from "../../src/state/store.js";
import type { Timeline, TimelineStep } from "../../src/timeline/plan.js";
import { nextOf } from "../../src/timeline/run.js";

const at = (iso: string) => new Date(iso);
const step = (kind: TimelineStep["kind"], iso: string): TimelineStep => ({
  kind,
  at: at(iso),
  label: "",
  summary: "",
  notes: [],
});

function timeline(): Timeline {
  return {
    name: "t",
    now: at("2027-12-01T13:00:00Z"),
    swapAt: at("2027-12-01T14:00:00Z"),
    steps: [
      step("lower", "2027-11-30T13:00:00Z"),
      step("preflight", "2027-12-01T13:45:00Z"),
      step("handover", "2027-12-01T14:00:00Z"),
      step("swap", "2027-12-01T14:00:00Z"),
    ],
    targets: [],
    spf: [],
    siblings: [],
    info: [],
    limits: [],
    rollback: { zone: "", changes: [] } as unknown as Timeline["rollback"],
    warnings: [],
  };
}

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
    handover: { status: "pending", attempts: 0, result: { state: "waiting", nextPollAt: "2027-12-01T14:00:01.000Z" } },
  } as RunState["steps"]);
  expect(nextOf(timeline(), s).nextAt?.toISOString()).toBe("2027-12-01T14:00:01.000Z");
});

test("nothing can run when a step failed and every other one waits for it", () => {
  const s = state({
    lower: { status: "done", attempts: 1 },
    preflight: { status: "failed", attempts: 3, error: "x" },
  } as RunState["steps"]);
  expect(nextOf(timeline(), s)).toEqual({ nextAt: undefined, finished: false });
});
