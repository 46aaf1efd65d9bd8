import {
  afterFailure,
  nextAction,
  type NextAction,
  type PolicyStep,
  type PolicyTimeline,
  type StepProgress,
} from "@cutover/core";
import type { EdgePlanData, EdgeStepSpec } from "../edge-plan.js";

/**
 * The Durable Object's side of core's step policy: its plan and its SQLite rows as `nextAction` reads
 * them, and the row changes of an attempt (started, done, failed, polled). Pure, so the same journal can be
 * replayed through it in a test beside the CLI's runner.
 */

/** A step's row in the object's SQLite `steps` table. */
export interface StepRow {
  id: string;
  /** `failed` here is a failed attempt that will be tried again at `retry_at` (the Worker never gives up). */
  status: "pending" | "running" | "done" | "failed";
  attempts: number;
  started_at: number | null;
  done_at: number | null;
  /** After a failed attempt: when it is tried again; on a pending row: when it asked to be run again. */
  retry_at: number | null;
  error: string | null;
  result: string | null;
}

export function emptyRow(id: string): StepRow {
  return {
    id,
    status: "pending",
    attempts: 0,
    started_at: null,
    done_at: null,
    retry_at: null,
    error: null,
    result: null,
  };
}

export type EdgePolicyStep = PolicyStep & { spec: EdgeStepSpec };

/**
 * The plan for core's `nextAction`: the DoH checks are the Worker's watch; the swap is held after the TTL
 * drop by the highest old TTL (counted from the drop done on the admin's machine when it was done before
 * the upload). No retry window: no one is at the edge to hand a failed step to, so it is tried until cancelled.
 */
export function edgePolicy(plan: EdgePlanData): PolicyTimeline<EdgePolicyStep> {
  return {
    steps: plan.steps.map((spec) => ({
      id: spec.id,
      kind: spec.kind === "check" ? "watch" : spec.kind,
      at: spec.at,
      hold: spec.kind === "swap" ? { after: "lower", ms: plan.swapAfterLowerMs } : undefined,
      spec,
    })),
    doneElsewhere: plan.lowerDoneAt === undefined ? undefined : { lower: plan.lowerDoneAt },
  };
}

/** A row as the policy reads it. */
export function rowProgress(r: StepRow): StepProgress {
  return {
    status: r.status === "failed" ? "pending" : r.status,
    attempts: r.attempts,
    doneAt: r.done_at ?? undefined,
    retryAt: r.status === "failed" ? (r.retry_at ?? undefined) : undefined,
    pollAt: r.status === "pending" ? (r.retry_at ?? undefined) : undefined,
  };
}

/** What is due at `now` for this plan with these rows. */
export function edgeDecide(plan: EdgePlanData, row: (id: string) => StepRow, now: number): NextAction<EdgePolicyStep> {
  return nextAction(edgePolicy(plan), (s) => rowProgress(row(s.id)), now);
}

export function rowStarted(r: StepRow, now: number): StepRow {
  return { ...r, status: "running", attempts: r.attempts + 1, started_at: now };
}

export function rowDone(r: StepRow, now: number, result: string): StepRow {
  return { ...r, status: "done", done_at: now, retry_at: null, error: null, result };
}

/** A failed attempt: tried again after core's backoff (with the plan's retry policy). */
export function rowFailed(plan: EdgePlanData, step: EdgePolicyStep, r: StepRow, now: number, error: string): StepRow {
  const next = afterFailure({ ...step, retryUntil: undefined }, r.attempts, now, plan.retry);
  return { ...r, status: "failed", retry_at: next.retry ? next.retryAt : null, error };
}

/** An attempt that found the step not finished yet and asked to be run again at `until`. */
export function rowPolled(r: StepRow, until: number, result: string): StepRow {
  return { ...r, status: "pending", attempts: 0, retry_at: until, error: null, result };
}
