import type { StepHold, StepKind } from "./timeline.js";

/**
 * The one policy of what is due, what waits and what is retried, for every runner: `cutover run` and
 * `cutover tick` on the admin's machine and the Durable Object at the edge. Pure: the runners keep their
 * steps' progress in their own stores (a journal, SQLite rows), give it here as `StepProgress`, run what
 * comes back as due, and sleep (or set an alarm) until `wakeAt`.
 */

/** What the policy needs to know of a step. */
export interface PolicyStep {
  /** Unique in the timeline: the kind for the CLI's steps; `check-2` for the Worker's second check. */
  id: string;
  /** Decides what the step waits for (`REQUIRES`). The Worker's DoH checks are its watch. */
  kind: StepKind;
  /** When the step is due (ms since the epoch). */
  at: number;
  /** Not before `ms` after the step of kind `after` finished (the swap: the TTL drop + the highest old TTL). */
  hold?: StepHold | undefined;
  /**
   * A failing step is tried again until this time (ms), then given up and left to a person (`tick --retry`).
   * Absent: tried again until the run is cancelled (the Worker: no one is there to decide).
   */
  retryUntil?: number | undefined;
}

export interface PolicyTimeline<S extends PolicyStep = PolicyStep> {
  steps: readonly S[];
  /** Steps finished outside this timeline, with when (the TTL drop done on the admin's machine before an edge upload). */
  doneElsewhere?: Partial<Record<StepKind, number>> | undefined;
}

export type StepStatus = "pending" | "running" | "done" | "failed" | "skipped";

/**
 * Where a step stands. `running` is an attempt that never ended (the runner was killed): due again, and
 * harmless to repeat since every step reads first and does only what is missing. `failed` is given up.
 */
export interface StepProgress {
  status: StepStatus;
  /** Failed attempts in a row (the attempt under way included while running). */
  attempts: number;
  /** When it finished (ms). */
  doneAt?: number | undefined;
  /** After a failed attempt: when it may be tried again (`retryAt`). */
  retryAt?: number | undefined;
  /** An open-ended step (watch, drain) asked to be run again at this time. */
  pollAt?: number | undefined;
}

/** A failed step is tried again after `firstMs`, doubling up to `maxMs`. */
export interface RetryPolicy {
  firstMs: number;
  maxMs: number;
}

/**
 * The one backoff. 5 s first: the providers already retry inside a call (429 with Retry-After, 5xx), so a
 * step that still failed met more than a blip, and a second attempt a second later mostly meets it again.
 * 60 s at most: the swap is timed, so once an outage ends it runs within a minute (300 s let it lag 5 min).
 */
export const RETRY: RetryPolicy = { firstMs: 5_000, maxMs: 60_000 };

/** How long after its `attempts`-th failed attempt a step waits before the next. */
export function retryDelayMs(attempts: number, policy: RetryPolicy = RETRY): number {
  return Math.min(policy.maxMs, policy.firstMs * 2 ** Math.max(0, attempts - 1));
}

/** The steps that must be finished before a step may start (a kind absent from the timeline counts as finished). */
export const REQUIRES: Readonly<Record<StepKind, readonly StepKind[]>> = {
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

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * Until when a failing step is tried again before the run stops and asks a person: the preparations until
 * the swap, the handover and swap for 15 minutes after their time, the open-ended steps until their
 * deadline (72 h after the swap by default), the restore for 6 hours.
 */
export function retryWindowEnd(
  step: { kind: StepKind; at: number; deadline?: number | undefined },
  swapAt: number,
): number {
  switch (step.kind) {
    case "lower":
    case "sync":
    case "preflight":
      return swapAt;
    case "handover":
    case "swap":
      return Math.max(step.at, swapAt) + 15 * MINUTE;
    case "watch":
    case "drain":
      return step.deadline ?? swapAt + 72 * HOUR;
    case "restore":
      return step.at + 6 * HOUR;
  }
}

/** What a step waits for before it is due. */
export type Wait =
  /** Its time has not come. */
  | { for: "time"; until: number }
  /** A failed attempt's backoff. */
  | { for: "retry"; until: number; attempts: number }
  /** The next round of an open-ended step. */
  | { for: "poll"; until: number }
  /** Held a while after another step finished (the swap after the TTL drop). */
  | { for: "hold"; until: number; after: StepKind }
  /** A step it requires is not finished. */
  | { for: "step"; step: string };

export interface NextAction<S extends PolicyStep = PolicyStep> {
  /** Due now, in timeline order: a runner runs the first, then asks again. */
  due: S[];
  /** Not due yet, and why. */
  waiting: Array<{ step: S; wait: Wait }>;
  /** Given up: they wait for a person (and so does every step that requires them). */
  failed: S[];
  /** When something is next due (past or now when `due` is not empty); undefined when nothing can run. */
  wakeAt: number | undefined;
  /** Every step is done or skipped. */
  finished: boolean;
}

export function isFinished(p: { status: StepStatus } | undefined): boolean {
  return p?.status === "done" || p?.status === "skipped";
}

/**
 * What is due at `now`, what waits and for what, and when to wake next. A step is due when it is not
 * finished or given up, every step it requires is finished, and its time, its retry backoff, its poll time
 * and its hold have all passed. A step waiting for another does not set the wake time (its own time may be
 * long past while the other polls); the step it waits for does.
 */
export function nextAction<S extends PolicyStep>(
  timeline: PolicyTimeline<S>,
  progress: (step: S) => StepProgress | undefined,
  now: number,
): NextAction<S> {
  const byKind = (kind: StepKind) => timeline.steps.filter((s) => s.kind === kind);
  const out: NextAction<S> = { due: [], waiting: [], failed: [], wakeAt: undefined, finished: true };
  for (const step of timeline.steps) {
    const p = progress(step);
    if (isFinished(p)) continue;
    out.finished = false;
    if (p?.status === "failed") {
      out.failed.push(step);
      continue;
    }
    const blocker = [...REQUIRES[step.kind], ...(step.hold ? [step.hold.after] : [])]
      .flatMap((k) => byKind(k))
      .find((s) => !isFinished(progress(s)));
    if (blocker) {
      out.waiting.push({ step, wait: { for: "step", step: blocker.id } });
      continue;
    }
    // The binding constraint: the latest of its time, its backoff, its poll time and its hold.
    let wait: Exclude<Wait, { for: "step" }> = { for: "time", until: step.at };
    const later = (w: Exclude<Wait, { for: "step" }>) => {
      if (w.until > wait.until) wait = w;
    };
    if (p?.retryAt !== undefined) later({ for: "retry", until: p.retryAt, attempts: p.attempts });
    if (p?.pollAt !== undefined) later({ for: "poll", until: p.pollAt });
    if (step.hold) {
      const after = step.hold.after;
      const others = byKind(after);
      const done = others.length
        ? Math.max(...others.map((s) => progress(s)?.doneAt ?? 0))
        : timeline.doneElsewhere?.[after];
      if (done !== undefined) later({ for: "hold", until: done + step.hold.ms, after });
    }
    out.wakeAt = out.wakeAt === undefined ? wait.until : Math.min(out.wakeAt, wait.until);
    if (wait.until <= now) out.due.push(step);
    else out.waiting.push({ step, wait });
  }
  if (out.finished) out.wakeAt = undefined;
  return out;
}

/** What follows a failed attempt: the next try, or the end of trying (the step is failed and left to a person). */
export type AfterFailure = { retry: true; retryAt: number } | { retry: false };

/** Decides what follows the `attempts`-th failed attempt of `step`, ended at `now`. */
export function afterFailure(
  step: PolicyStep,
  attempts: number,
  now: number,
  policy: RetryPolicy = RETRY,
): AfterFailure {
  const retryAt = now + retryDelayMs(attempts, policy);
  if (step.retryUntil !== undefined && retryAt > step.retryUntil) return { retry: false };
  return { retry: true, retryAt };
}
