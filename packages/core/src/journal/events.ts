import type { ChangeOutcome } from "../changes.js";
import type { StepStatus } from "../policy.js";
import type { DnsRecord } from "../records.js";
import type { StepKind } from "../timeline.js";
import { planInfoSchema } from "./schema.js";

/**
 * The journal of a run as data: its events (a union keyed by `type`), the state they add up to, and the one
 * fold of the first into the second (`applyEvent`). The CLI keeps them in files (`events.jsonl` is the truth,
 * `state.json` a cache of the fold); this is what any runner reads and writes.
 */

export interface StepState {
  status: StepStatus;
  attempts: number;
  startedAt?: string;
  doneAt?: string;
  error?: string;
  /** What the step found or did, for status and the report. */
  result?: unknown;
  /** An open-ended step (watch, drain) asked to be run again at this time. */
  nextPollAt?: string;
}

/** The snapshot of a run: everything needed to resume, restore or roll back without memory. */
export interface RunState {
  version: 1;
  name: string;
  plan: {
    file: string;
    hash: string;
    /** The plan text as accepted, to show what changed when it is edited. */
    text: string;
    /** The `now` the timeline was computed with (a resumed run plans from the same instant). */
    plannedAt: string;
    acceptRisk: boolean;
  };
  /** The moved records exactly as they were before any change: ids, TTLs, contents. */
  originals: DnsRecord[];
  steps: Partial<Record<StepKind, StepState>>;
  /** Set once the whole move has been rolled back. */
  rolledBack?: { at: string; outcomes: RollbackOutcome[] };
  createdAt: string;
  updatedAt: string;
}

/** A rolled-back record's outcome, as the journal keeps it. */
export type RollbackOutcome = Pick<ChangeOutcome, "status"> & {
  id?: string;
  name: string;
  type: string;
  error?: string;
};

/** The events of a step's attempts; `applyEvent` says what each does to the step's state. */
export type StepEvent =
  | { at: string; type: "step.start"; step: StepKind; attempt: number }
  | { at: string; type: "step.done"; step: StepKind; result?: unknown }
  /** An open-ended step (watch, drain) did a round: run it again at `next`. */
  | { at: string; type: "step.progress"; step: StepKind; result?: unknown; next: string }
  /** A failed attempt: tried again after the backoff (`retry`), or given up (`failed`); `records` as far as they got. */
  | {
      at: string;
      type: "step.retry" | "step.failed";
      step: StepKind;
      error: string;
      attempt: number;
      records?: unknown;
    }
  /** A person asked for a failed step to be tried again. */
  | { at: string; type: "step.retry-failed"; step: StepKind; error?: string | undefined };

/** The events of the run as a whole (no step). */
export type RunEvent = { step?: undefined } & (
  | {
      at: string;
      type: "run.created";
      plan: string;
      hash: string;
      /** The plan's details (absent in journals written before it was added: planned at creation). */
      planInfo?: RunState["plan"];
      originals: DnsRecord[];
    }
  | { at: string; type: "plan.accepted"; hash: string; text?: string; acceptRisk?: boolean; diff?: string }
  | { at: string; type: "rollback.start" | "rollback.edge-cancelled" }
  | { at: string; type: "rollback.dns" | "rollback.dns.partial" | "rollback.done"; outcomes: RollbackOutcome[] }
  | { at: string; type: "edge.deployed"; script: string; url: string; steps: string[] }
  | { at: string; type: "edge.removed"; script: string; removed: boolean }
);

/** One line of the journal: a union keyed by `type`. */
export type JournalEvent = StepEvent | RunEvent;

/**
 * Applies one journal event to a run's state: the one place that says what each event means, used both
 * live (so state.json is exactly what a replay gives) and to rebuild state.json from events.jsonl.
 */
export function applyEvent(state: RunState | undefined, e: JournalEvent): RunState | undefined {
  if (e.type === "run.created") {
    // A journal from before run.created carried the plan's details: planned at its creation.
    const plan = planInfoSchema.safeParse(e.planInfo).data ?? {
      file: "",
      hash: String(e.hash),
      text: "",
      plannedAt: e.at,
      acceptRisk: false,
    };
    return {
      version: 1,
      name: String(e.plan),
      plan: { ...plan },
      originals: structuredClone(e.originals as DnsRecord[]),
      steps: {},
      createdAt: e.at,
      updatedAt: e.at,
    };
  }
  if (!state) return state;
  state.updatedAt = e.at;
  const step = e.step ? (state.steps[e.step] ??= { status: "pending", attempts: 0 }) : undefined;
  switch (e.type) {
    case "plan.accepted":
      state.plan = {
        ...state.plan,
        hash: String(e.hash),
        ...(typeof e.text === "string" ? { text: e.text } : {}),
        ...(typeof e.acceptRisk === "boolean" ? { acceptRisk: e.acceptRisk } : {}),
      };
      break;
    case "step.start":
      if (!step) break;
      step.status = "running";
      step.attempts = typeof e.attempt === "number" ? e.attempt : step.attempts + 1;
      step.startedAt ??= e.at;
      break;
    case "step.done":
      if (!step) break;
      step.status = "done";
      step.doneAt = e.at;
      if (e.result === undefined) delete step.result;
      else step.result = structuredClone(e.result);
      delete step.error;
      delete step.nextPollAt;
      break;
    case "step.progress":
      if (!step) break;
      step.status = "pending";
      step.attempts = 0;
      step.result = structuredClone(e.result);
      step.nextPollAt = String(e.next);
      break;
    case "step.retry":
    case "step.failed":
      if (!step) break;
      step.status = e.type === "step.failed" ? "failed" : "pending";
      step.error = String(e.error);
      step.doneAt = e.at;
      if (typeof e.attempt === "number") step.attempts = e.attempt;
      if (e.records) step.result = { records: structuredClone(e.records) };
      break;
    case "step.retry-failed":
      if (!step) break;
      step.status = "pending";
      step.attempts = 0;
      delete step.doneAt;
      break;
    case "rollback.done":
      state.rolledBack = {
        at: e.at,
        outcomes: structuredClone(
          Array.isArray(e.outcomes) ? (e.outcomes as NonNullable<RunState["rolledBack"]>["outcomes"]) : [],
        ),
      };
      break;
  }
  return state;
}

/** The state a journal describes, replayed from its first event. */
export function replayEvents(events: readonly JournalEvent[]): RunState | undefined {
  let state: RunState | undefined;
  for (const e of events) state = applyEvent(state, e);
  return state;
}
