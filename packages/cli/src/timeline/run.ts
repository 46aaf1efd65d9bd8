import {
  afterFailure,
  CutoverError,
  isFinished as finished,
  nextAction,
  retryDelayMs,
  retryWindowEnd,
  type DnsStepKind,
  type NextAction,
  type PolicyStep,
  type PolicyTimeline,
  type StepProgress,
  type ChangeSet,
  planTimeline,
  type StepKind,
  type Timeline,
  type TimelineStep,
} from "@cutover/core";
import { applyChangeSet, waitServed, type ApplyReport, type DnsProvider } from "@cutover/dns";
import type { LoadedPlan } from "../plan/load.js";
import { failpoint } from "../state/failpoint.js";
import type { StateStore } from "../state/store.js";
import { count } from "../output/words.js";
import { authoritativeOf } from "@cutover/core/plan";
import type { JournalEvent, RunState, StepState, DnsRecordRow, StepOutcome } from "@cutover/core/journal";

export type { StepOutcome };

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
  preflight?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome<"preflight">>;
  handover?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome<"handover">>;
  watch?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome<"watch">>;
  drain?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome<"drain">>;
  sync?: (rt: StepRuntime, step: TimelineStep) => Promise<StepOutcome<"sync">>;
}

export class StepFailed extends CutoverError {
  override name = "StepFailed";
  readonly step: StepKind;
  /** What the step got done before it failed, record by record (or check by check), for the journal. */
  readonly records: unknown[] | undefined;
  constructor(step: StepKind, message: string, hint?: string, records?: unknown[]) {
    super(`${step} failed: ${message}`, { code: "E_STEP_FAILED", hint });
    this.step = step;
    this.records = records;
  }
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
  return finished(s);
}

/** A timeline step as the shared policy sees it (the CLI's steps are keyed by their kind). */
export type RunPolicyStep = PolicyStep & { step: TimelineStep };

/**
 * The timeline for core's `nextAction`: each step with its hold (the swap after the drop) and its retry
 * window, after which a failing step is given up and left to a person (`tick --retry`).
 */
export function policyOf(timeline: Timeline): PolicyTimeline<RunPolicyStep> {
  const swapAt = timeline.swapAt.getTime();
  return {
    steps: timeline.steps.map((step) => ({
      id: step.kind,
      kind: step.kind,
      at: step.at.getTime(),
      hold: "hold" in step ? step.hold : undefined,
      retryUntil: retryWindowEnd(
        {
          kind: step.kind,
          at: step.at.getTime(),
          deadline: step.kind === "drain" ? step.deadline.getTime() : undefined,
        },
        swapAt,
      ),
      step,
    })),
  };
}

/** A step's journaled state as the policy reads it: when it finished, its retry time, its poll time. */
export function progressOf(s: StepState | undefined): StepProgress | undefined {
  if (!s) return undefined;
  const failedAt = s.doneAt === undefined ? undefined : Date.parse(s.doneAt);
  return {
    status: s.status,
    attempts: s.attempts,
    doneAt: finished(s) ? failedAt : undefined,
    // A failed attempt journals when it ended (`doneAt`) and how many in a row; the backoff counts from there.
    retryAt:
      s.status === "pending" && s.attempts > 0 && failedAt !== undefined
        ? failedAt + retryDelayMs(s.attempts)
        : undefined,
    pollAt: s.nextPollAt === undefined ? undefined : Date.parse(s.nextPollAt),
  };
}

/** What core's policy says of this run at `now`: what is due, what waits and for what, when to wake. */
export function decide(timeline: Timeline, state: RunState, now: number): NextAction<RunPolicyStep> {
  return nextAction(policyOf(timeline), (p) => progressOf(state.steps[p.step.kind]), now);
}

/**
 * What a tick at `now` would run, in order, if every step it starts finished: the steps due now, then those
 * their end makes due (a tick goes on until nothing is due). A step held after another (the swap after a
 * drop done now) is not among them. For `--dry-run`.
 */
export function dueInTurn(timeline: Timeline, state: RunState, now: number): TimelineStep[] {
  const assumed: RunState = { ...state, steps: { ...state.steps } };
  const out: TimelineStep[] = [];
  for (;;) {
    const next = decide(timeline, assumed, now).due[0];
    if (!next) return out;
    out.push(next.step);
    assumed.steps[next.step.kind] = { status: "done", attempts: 1, doneAt: new Date(now).toISOString() };
  }
}

/** When a pending step may next run, leaving aside the steps it waits for: its time, retry backoff or poll time. */
export function nextDueAt(step: TimelineStep, s: StepState | undefined): number {
  const p = progressOf(s);
  return Math.max(step.at.getTime(), p?.retryAt ?? 0, p?.pollAt ?? 0);
}

function summarize(report: ApplyReport): DnsRecordRow[] {
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
async function runDnsStep(rt: StepRuntime, step: TimelineStep, set: ChangeSet): Promise<StepOutcome<DnsStepKind>> {
  const report = await applyChangeSet(rt.provider, set, {
    ...(rt.signal ? { signal: rt.signal } : {}),
    onZoneDone: () => failpoint(`zone-applied:${step.kind}`),
  });
  const records = summarize(report);
  for (const n of report.notes) rt.say(`${step.kind}: ${n}`);
  if (!report.complete) {
    const bad = records.filter((r) => r.status !== "applied" && r.status !== "already");
    const lines = bad.map((r) => `${r.name} ${r.type}: ${r.status}${"error" in r ? ` (${r.error})` : ""}`);
    throw new StepFailed(
      step.kind,
      `${bad.length} of ${count(records.length, "record")} not done: ${lines.join("; ")}`,
      undefined,
      records,
    );
  }
  const applied = records.filter((r) => r.status === "applied").length;
  rt.say(`${step.kind}: ${applied} changed, ${records.length - applied} already in place`);
  // Done when observable: the zone's authoritative servers serve the change (a bounded wait; else retried).
  const auth = authoritativeOf(rt.loaded.plan);
  if (auth && set.changes.length > 0) {
    // A tick is bounded: a shorter wait, and the next tick reads again.
    const served = await waitServed(set, {
      ...auth,
      timeoutMs: rt.oneShot ? 5000 : 20_000,
      ...(rt.signal ? { signal: rt.signal } : {}),
    });
    for (const n of served.notes) rt.say(`${step.kind}: ${n}`);
    if (!served.served) {
      throw new StepFailed(step.kind, `written, but not served yet: ${served.problems.join("; ")}`, undefined, records);
    }
    if (served.servers.length > 0)
      rt.say(`${step.kind}: served by ${count(served.servers.length, "authoritative server")}`);
    return { status: "done", result: { records, servedBy: served.servers } };
  }
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
    const next = decide(timeline, state, now).due[0];
    if (!next) break;
    const due = next.step;
    if (rt.signal?.aborted) break;
    const s = stepState(state, due.kind);
    // Each change of the run is one journal event, applied to the state by the code a replay runs.
    await store.record(state, startEvent(state, due.kind, new Date(now)));
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
      const records = error instanceof StepFailed ? error.records : undefined;
      const event = failureEvent(next, state, at, message, records);
      const exhausted = event.type === "step.failed";
      await store.record(state, event);
      ran.push({ kind: due.kind, status: s.status });
      if (exhausted) {
        throw error instanceof StepFailed ? error : new StepFailed(due.kind, message);
      }
      rt.say(
        `${due.kind}: attempt ${s.attempts} failed (${message}); retrying in ${Math.round(retryDelayMs(s.attempts) / 1000)}s`,
      );
    }
  }
  return { ran, ...nextOf(timeline, state) };
}

/** The journal event that starts the next attempt of a step. */
export function startEvent(state: RunState, kind: StepKind, at: Date): JournalEvent {
  return { at: at.toISOString(), type: "step.start", step: kind, attempt: (state.steps[kind]?.attempts ?? 0) + 1 };
}

/**
 * The journal event after a failed attempt, as core's policy decides: tried again after the backoff
 * (`step.retry`), or, when the next try would fall after the step's window, given up (`step.failed`).
 */
export function failureEvent(
  step: RunPolicyStep,
  state: RunState,
  at: Date,
  error: string,
  records?: unknown,
): JournalEvent & { type: "step.retry" | "step.failed" } {
  const attempts = state.steps[step.step.kind]?.attempts ?? 0;
  return {
    at: at.toISOString(),
    type: afterFailure(step, attempts, at.getTime()).retry ? "step.retry" : "step.failed",
    step: step.step.kind,
    error,
    attempt: attempts,
    ...(records ? { records } : {}),
  };
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

/** The next time something is due, and whether every step is finished (core's `nextAction`). */
export function nextOf(timeline: Timeline, state: RunState): { nextAt: Date | undefined; finished: boolean } {
  // The wake time does not depend on the time of asking.
  const { wakeAt, finished } = decide(timeline, state, 0);
  return { nextAt: wakeAt === undefined ? undefined : new Date(wakeAt), finished };
}

async function executeStep(rt: StepRuntime, step: TimelineStep, executors: StepExecutors): Promise<StepOutcome> {
  switch (step.kind) {
    case "lower":
    case "swap":
    case "restore":
      return runDnsStep(rt, step, step.changes);
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
