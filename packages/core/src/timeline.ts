/**
 * The steps of a move as data. A step is a union keyed by `kind`: each kind carries exactly what it needs
 * (a DNS step its change set, the drain its deadline), so no runner reads an optional that "must" be there.
 * The change set's type is a parameter: it is defined by `@cutover/dns`, which stands on this package.
 */

/** Every kind of step, in the order two steps due at the same instant run. */
export const STEP_KINDS = ["lower", "sync", "preflight", "handover", "swap", "watch", "drain", "restore"] as const;

export type StepKind = (typeof STEP_KINDS)[number];

/** The steps that change DNS records: each carries its change set. */
export type DnsStepKind = "lower" | "swap" | "restore";

/** The steps that run on the hosts (through the relay and SSH), never at the edge. */
export type HostStepKind = "sync" | "preflight" | "handover";

interface StepBase {
  /** When the step is due. */
  at: Date;
  /** The time relative to the swap, as people say it: T-25h, T0, T+24h. */
  label: string;
  /** One line saying what happens. */
  summary: string;
  notes: string[];
}

/** lower, swap, restore: the DNS changes of the step, computed when planning and applied as they are. */
export interface DnsStep<Changes> extends StepBase {
  kind: DnsStepKind;
  changes: Changes;
  /**
   * Not before this long after another step finished (the swap: the TTL drop plus the highest old TTL, so no
   * cache still holds a record with its old, long TTL). Absent when the plan was accepted with that risk.
   */
  hold?: StepHold;
}

export interface HostStep extends StepBase {
  kind: HostStepKind;
}

/** The watch: polled until every resolver answers the new address. */
export interface WatchStep extends StepBase {
  kind: "watch";
  /** When it ends, in words ("until propagated"). */
  until: string;
}

/** The drain: polled until the relay is quiet, at the latest at its deadline. */
export interface DrainStep extends StepBase {
  kind: "drain";
  until: string;
  /** The latest the step may end. */
  deadline: Date;
}

export type TimelineStep<Changes> = DnsStep<Changes> | HostStep | WatchStep | DrainStep;

/** A DNS step's change set; undefined for the other kinds. */
export function changesOf<Changes>(step: TimelineStep<Changes>): Changes | undefined {
  return step.kind === "lower" || step.kind === "swap" || step.kind === "restore" ? step.changes : undefined;
}

/** A step that may start only a while after another one finished. */
export interface StepHold {
  after: StepKind;
  ms: number;
}

/** `T-25h`, `T-15m`, `T0`, `T+24h` relative to the swap. */
export function relativeLabel(at: Date, swapAt: Date): string {
  const diff = at.getTime() - swapAt.getTime();
  if (diff === 0) return "T0";
  const abs = Math.abs(diff);
  const sign = diff < 0 ? "-" : "+";
  const units: Array<[string, number]> = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ];
  let rest = abs;
  const parts: string[] = [];
  for (const [u, size] of units) {
    if (u === "d" && abs <= 3 * 86_400_000) continue; // "T-25h" reads better than "T-1d1h"
    const n = Math.floor(rest / size);
    if (n > 0 && parts.length < 2) parts.push(`${n}${u}`);
    rest -= n * size;
  }
  return `T${sign}${parts.join("") || "0s"}`;
}
