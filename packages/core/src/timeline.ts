import type { ChangeSet } from "./changes.js";
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
  notes: string[];
}

/**
 * lower, swap, restore: the DNS changes of the step, computed when planning and applied as they are. What a
 * view says of a step (the CLI's `stepSummary`) is rendered from these fields, never stored.
 */
interface ChangeStepBase<Changes> extends StepBase {
  changes: Changes;
  /**
   * Not before this long after another step finished (the swap: the TTL drop plus the highest old TTL, so no
   * cache still holds a record with its old, long TTL). Absent when the plan was accepted with that risk.
   */
  hold?: StepHold;
}

/** The TTL drop and its restore. */
export interface TtlStep<Changes> extends ChangeStepBase<Changes> {
  kind: "lower" | "restore";
}

/** The swap: the records move to the new host's addresses. */
export interface SwapStep<Changes> extends ChangeStepBase<Changes> {
  kind: "swap";
  /** The new host's addresses (IPv4 first). */
  to: string[];
  /** How the provider writes a zone's changes: one atomic update, one batch, or record by record. */
  writes: "atomic" | "batch" | "each";
}

export type DnsStep<Changes> = TtlStep<Changes> | SwapStep<Changes>;

/** The checks of the new host before the handover. */
export interface PreflightStep extends StepBase {
  kind: "preflight";
  /** The new host's ports the relay forwards to (empty: only its reachability is checked). */
  ports: number[];
  /** The relayed ports whose TLS names are checked (443, 465, 993, 995). */
  tlsPorts: number[];
  /** Port 25 is relayed: the new host's SMTP banner is checked. */
  smtp: boolean;
}

/** The warm pass of the sync, ahead of the handover. */
export interface SyncStep extends StepBase {
  kind: "sync";
  /** The paths copied. */
  paths: number;
}

/** The handover on the old host: the relay takes the ports (and, with a sync, holds new connections). */
export interface HandoverStep extends StepBase {
  kind: "handover";
  mode: "redirect" | "rebind";
  /** The old host's ports the relay takes, each with the new host's port it goes to. */
  ports: Array<{ listen: number; to: number }>;
  /** The unix sockets the relay takes. */
  sockets: string[];
  /** The services stopped on the old host. */
  stopServices: string[];
  /** With a sync: how long new connections are held at most, what then, and what the final sync copies. */
  sync?: { maxHoldMs: number; onTimeout: "release" | "abort"; what: string[] };
}

export type HostStep = PreflightStep | SyncStep | HandoverStep;

/** The watch: polled until every resolver answers the new address. */
export interface WatchStep extends StepBase {
  kind: "watch";
  /** When it ends, in words ("until propagated"). */
  until: string;
  /** The resolvers asked: the built-in public set, or how many the plan lists. */
  resolvers: "default" | number;
  /** RIPE Atlas probes asked, when the plan uses Atlas. */
  atlasProbes?: number;
}

/** The drain: polled until the relay is quiet, at the latest at its deadline. */
export interface DrainStep extends StepBase {
  kind: "drain";
  until: string;
  /** How long the relay must be quiet. */
  quietMs: number;
  /** The latest the step may end. */
  deadline: Date;
}

export type TimelineStep<Changes = ChangeSet> = DnsStep<Changes> | HostStep | WatchStep | DrainStep;

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
