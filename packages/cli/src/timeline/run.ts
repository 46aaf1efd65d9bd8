import { CutoverError } from "@cutover/core";
import { applyChangeSet, type ApplyReport, type ChangeSet, type DnsProvider } from "@cutover/dns";
import type { LoadedPlan } from "../plan/load.js";
import { failpoint } from "../state/failpoint.js";
import type { RunState, StateStore, StepState } from "../state/store.js";
import { planTimeline, type StepKind, type Timeline, type TimelineStep } from "./plan.js";
import { count } from "../output/words.js";

/** What a step did: finished, or must be polled again (watch, drain) at a later time. */
export type StepOutcome = { status: "done"; result?: unknown } | { status: "wait"; until: Date; result?: unknown };

export interface StepRuntime {
  loaded: LoadedPlan;
  timeline: Timeline;
  state: RunState;
  provider: DnsProvider;
  /** The run's state directory (relay config, admin socket, logs live there). */
  stateDir?: string;
  now: () => Date;
  /** Waits (with the injected clock in tests); optional for callers that never wait inside a step. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A `tick`: do what is due with no waiting inside a step (one watch round), then exit. */
  oneShot?: boolean;
  signal?: AbortSignal;
  /** Progress for the live view / plain lines. */
  say: (text: string) => void;
}

/** The effects of the steps that are not DNS changes; injected so each part can be swapped or tested. */
export interface StepExecutors {
  preflight?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome>;
  handover?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome>;
  watch?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome>;
  drain?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome>;
  sync?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome>;
}

export class StepFailed extends CutoverError {
  override name = "StepFailed";
  readonly step: StepKind;
  constructor(step: StepKind, message: string, hint?: string) {
    super(`${step} failed: ${message}`, { code: "E_STEP_FAILED", hint });
    this.step = step;
  }
}

/** Steps that must be done before a step may start. */
const REQUIRES: Record<StepKind, StepKind[]> = {
  lower: [],
  // The warm pass only shortens the final one (which copies whatever is missing): nothing waits for it.
  sync: [],
  preflight: ["lower"],
  handover: ["lower", "preflight"],
  swap: ["lower", "preflight", "handover"],
  watch: ["swap"],
  drain: ["swap", "handover"],
  restore: ["swap"],
};

/** How long after its time a failing step keeps being retried before the run stops. */
function windowEnd(step: TimelineStep, t: Timeline): number {
  const swap = t.swapAt.getTime();
  switch (step.kind) {
    case "lower":
    case "sync":
    case "preflight":
      return swap;
    case "handover":
    case "swap":
      return Math.max(step.at.getTime(), swap) + 15 * 60_000;
    case "watch":
    case "drain":
      return step.deadline?.getTime() ?? swap + 72 * 3_600_000;
    case "restore":
      return step.at.getTime() + 6 * 3_600_000;
  }
}

function backoffMs(attempts: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** Rebuilds the timeline of a run from its journal: the original records and the instant it was planned. */
export function timelineOf(loaded: LoadedPlan, state: RunState, capabilities: DnsProvider["capabilities"]): Timeline {
  const result = planTimeline(loaded.plan, state.originals, new Date(state.plan.plannedAt), {
    capabilities,
    acceptRisk: state.plan.acceptRisk,
  });
  if (!result.ok) throw new Error(`the journaled plan no longer plans: ${result.reason}`);
  return result.timeline;
}

function stepState(state: RunState, kind: StepKind): StepState {
  let s = state.steps[kind];
  if (!s) {
    s = { status: "pending", attempts: 0 };
    state.steps[kind] = s;
  }
  return s;
}

export function isFinished(s: StepState | undefined): boolean {
  return s?.status === "done" || s?.status === "skipped";
}

/** When a pending step may next run: its time, or after its retry backoff, or its own poll time. */
export function nextDueAt(step: TimelineStep, s: StepState | undefined): number {
  const base = step.at.getTime();
  const r = s?.result as { nextPollAt?: string } | undefined;
  const poll = r?.nextPollAt ? Date.parse(r.nextPollAt) : 0;
  const retry =
    s?.status === "pending" && s.attempts > 0 && s.doneAt ? Date.parse(s.doneAt) + backoffMs(s.attempts) : 0;
  return Math.max(base, poll, retry);
}

function summarize(report: ApplyReport) {
  return report.outcomes.map((o) => ({
    zone: o.change.zone,
    name: o.change.name,
    type: o.change.type,
    id: o.change.id,
    status: o.status,
    before: o.change.before,
    after: o.change.after,
    ...(o.status === "failed" ? { error: o.error } : {}),
    ...(o.status === "conflict" ? { found: o.found } : {}),
  }));
}

/** Applies a DNS step's change set; partial results are journaled record by record and the step fails. */
async function runDnsStep(rt: StepRuntime, step: TimelineStep, set: ChangeSet): Promise<StepOutcome> {
  const report = await applyChangeSet(rt.provider, set, {
    ...(rt.signal ? { signal: rt.signal } : {}),
    onZoneDone: () => failpoint(`zone-applied:${step.kind}`),
  });
  const records = summarize(report);
  for (const n of report.notes) rt.say(`${step.kind}: ${n}`);
  if (!report.complete) {
    const bad = records.filter((r) => r.status !== "applied" && r.status !== "already");
    const lines = bad.map((r) => `${r.name} ${r.type}: ${r.status}${"error" in r ? ` (${r.error})` : ""}`);
    const err = new StepFailed(
      step.kind,
      `${bad.length} of ${count(records.length, "record")} not done: ${lines.join("; ")}`,
    );
    (err as StepFailed & { records?: unknown }).records = records;
    throw err;
  }
  const applied = records.filter((r) => r.status === "applied").length;
  rt.say(`${step.kind}: ${applied} changed, ${records.length - applied} already in place`);
  return { status: "done", result: { records } };
}

export interface TickResult {
  ran: Array<{ kind: StepKind; status: StepState["status"] }>;
  /** When the next step is due, if any is left. */
  nextAt: Date | undefined;
  finished: boolean;
}

/**
 * Does every step that is due now, in order, journaling before and after each; returns when nothing
 * more is due. A failing step is retried with backoff until its window ends; then StepFailed is thrown
 * and the journal says where the run stands. Steps already done are never run again.
 */
export async function runDueSteps(rt: StepRuntime, store: StateStore, executors: StepExecutors): Promise<TickResult> {
  const { timeline, state } = rt;
  const ran: TickResult["ran"] = [];
  for (;;) {
    const now = rt.now().getTime();
    const due = timeline.steps.find(
      (step) => runnable(timeline, state, step) && nextDueAt(step, state.steps[step.kind]) <= now,
    );
    if (!due) break;
    if (rt.signal?.aborted) break;
    const s = stepState(state, due.kind);
    // Each change of the run is one journal event, applied to the state by the code a replay runs.
    await store.record(state, {
      at: new Date(now).toISOString(),
      type: "step.start",
      step: due.kind,
      attempt: s.attempts + 1,
    });
    failpoint(`step.start:${due.kind}`);
    try {
      const outcome = await executeStep(rt, due, executors);
      const at = rt.now().toISOString();
      if (outcome.status === "done") {
        await store.record(state, { at, type: "step.done", step: due.kind, result: outcome.result });
        failpoint(`step.done:${due.kind}`);
      } else {
        await store.record(state, {
          at,
          type: "step.progress",
          step: due.kind,
          result: outcome.result,
          next: outcome.until.toISOString(),
        });
      }
      ran.push({ kind: due.kind, status: s.status });
      if (outcome.status === "wait") continue;
    } catch (error) {
      const at = rt.now();
      const message = error instanceof Error ? error.message : String(error);
      const records = (error as { records?: unknown }).records;
      const exhausted = at.getTime() + backoffMs(s.attempts) > windowEnd(due, timeline);
      await store.record(state, {
        at: at.toISOString(),
        type: exhausted ? "step.failed" : "step.retry",
        step: due.kind,
        error: message,
        attempt: s.attempts,
        ...(records ? { records } : {}),
      });
      ran.push({ kind: due.kind, status: s.status });
      if (exhausted) {
        throw error instanceof StepFailed ? error : new StepFailed(due.kind, message);
      }
      rt.say(
        `${due.kind}: attempt ${s.attempts} failed (${message}); retrying in ${Math.round(backoffMs(s.attempts) / 1000)}s`,
      );
    }
  }
  return { ran, ...nextOf(timeline, state) };
}

/**
 * Gives failed steps another chance (a person ran `cutover run` or `tick --retry` after fixing the
 * cause): they become pending with their attempts reset, and the journal says so.
 */
export async function retryFailedSteps(state: RunState, store: StateStore, now: Date): Promise<StepKind[]> {
  const failed = (Object.keys(state.steps) as StepKind[]).filter((k) => state.steps[k]?.status === "failed");
  for (const k of failed)
    await store.record(state, {
      at: now.toISOString(),
      type: "step.retry-failed",
      step: k,
      error: state.steps[k]?.error,
    });
  return failed;
}

/** Whether a step can run once its time comes: not finished, not failed, every step it requires done. */
function runnable(timeline: Timeline, state: RunState, step: TimelineStep): boolean {
  const s = state.steps[step.kind];
  if (isFinished(s) || s?.status === "failed") return false;
  return REQUIRES[step.kind].every((k) => isFinished(state.steps[k]) || !timeline.steps.some((x) => x.kind === k));
}

/** The next time something is due, and whether every step is finished. */
export function nextOf(timeline: Timeline, state: RunState): { nextAt: Date | undefined; finished: boolean } {
  const open = timeline.steps.filter((step) => !isFinished(state.steps[step.kind]));
  if (open.length === 0) return { nextAt: undefined, finished: true };
  // A step waiting for another is not what wakes the runner (its time may be past while the other polls).
  const times = open
    .filter((step) => runnable(timeline, state, step))
    .map((step) => nextDueAt(step, state.steps[step.kind]));
  return { nextAt: times.length ? new Date(Math.min(...times)) : undefined, finished: false };
}

async function executeStep(rt: StepRuntime, step: TimelineStep, executors: StepExecutors): Promise<StepOutcome> {
  switch (step.kind) {
    case "lower":
    case "swap":
    case "restore":
      return runDnsStep(rt, step, step.changes!);
    case "sync":
    case "preflight":
    case "handover":
    case "watch":
    case "drain": {
      const exec = executors[step.kind];
      if (!exec) return { status: "done", result: { skipped: `no ${step.kind} executor in this runner` } };
      return exec(rt, step);
    }
  }
}
