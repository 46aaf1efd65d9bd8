import type { ChangeOutcome } from "../changes.js";
import type { HandoverStatus } from "../handover.js";
import type { StepKind } from "../timeline.js";
import type { RunState } from "./events.js";

/**
 * What each kind of step journals as its result (`step.done`, `step.progress`), typed per kind: the DNS
 * steps their records, the preflight its checks, the watch its rounds, the handover and drain the relay's
 * summary, the warm sync what it copied. The runner, status and the report read them through `resultOf`.
 */

/** One record of a DNS step as applied (or as far as it got). */
export interface DnsRecordRow {
  zone: string;
  name: string;
  type: string;
  id: string;
  status: ChangeOutcome["status"];
  before: { content: string; ttl: number };
  after: { content: string; ttl: number };
  error?: string;
  /** When someone else changed the record: what was found. */
  found?: { content: string; ttl: number } | undefined;
}

export interface DnsStepResult {
  records: DnsRecordRow[];
  /** The authoritative servers that served the step's change (`ns1.example.com 192.0.2.53`). */
  servedBy?: string[];
}

/** One check of the preflight (or of what the sync needs). */
export interface PreflightCheck {
  check: string;
  ok: boolean;
  detail: string;
}

export interface PreflightResult {
  checks: PreflightCheck[];
}

/** Each resolver's verdict in a watch round, for the report's lanes. */
export interface Lane {
  resolver: string;
  group: string;
  /** Who runs it and where (the built-in set or the plan's labels). */
  operator?: string;
  location?: string;
  /** NEW when every name and type answered new; else the first other verdict. */
  status: string;
  propagated: boolean;
  /** When its cache of the old answer must expire (observed remaining TTL). */
  expiresAt?: string;
}

export interface WatchResult {
  summary: string;
  propagated: boolean;
  progress: number;
  rounds: number;
  shares: Array<{ group: string; shareNew: number }>;
  stale: Array<{
    resolver: string;
    operator?: string;
    location?: string;
    name: string;
    status: string;
    expiresAt?: string;
  }>;
  expectedBy?: string;
  bound?: string;
  /** What was asked: each name with its type (`example.com TXT` for an SPF record the swap changed). */
  checked?: string[];
  /** Each resolver's verdict this round (all its names and types), for the report's lanes. */
  lanes?: Lane[];
  /**
   * Every reachable answer of this round was new (and the authoritative check complete): what a `tick`,
   * which does one round per process, compares with the journaled round before it.
   */
  allNew?: boolean;
  /** The watch ended at its bound with resolvers still old (they are listed in `stale`). */
  gaveUp?: boolean;
}

export interface RelaySummary {
  summary: string;
  active: number;
  total: number;
  /** The clients that still arrived after the swap: the users of stale resolvers. */
  staleClients: Array<{ address: string; total: number; lastSeen: string; bytesIn: number; bytesOut: number }>;
  /** Times the relay was restarted by its supervisor (each restart is in the journal with this count). */
  restarts: number;
}

/** The handover: waiting for its time, holding new connections while the final sync runs, or done. */
export type HandoverResult =
  | { state: "waiting" }
  | { state: "holding"; handover: HandoverStatus }
  | (RelaySummary & { handover: HandoverStatus | null | undefined });

export interface WarmSyncResult {
  host: string;
  dryRun: boolean;
  paths: Array<{ from: string; to: string; delete: boolean; files: number; bytes: number; command: string[] }>;
  files: number;
  bytes: number;
  durationMs: number;
}

/** A step this runner has no executor for was passed over. */
export interface SkippedResult {
  skipped: string;
}

export interface StepResults {
  lower: DnsStepResult;
  swap: DnsStepResult;
  restore: DnsStepResult;
  sync: WarmSyncResult | SkippedResult;
  preflight: PreflightResult | SkippedResult;
  handover: HandoverResult | SkippedResult;
  watch: WatchResult | SkippedResult;
  /** The relay's summary; once it stopped, the last summary journaled, marked stopped. */
  drain: RelaySummary | (Partial<RelaySummary> & { summary: string }) | SkippedResult;
}

/** What a step did: finished, or must be polled again (watch, drain) at a later time. */
export type StepOutcome<K extends StepKind = StepKind> =
  | { status: "done"; result?: StepResults[K] }
  | { status: "wait"; until: Date; result?: StepResults[K] };

/** A journaled result as read back: any shape its step writes, every field optional (a skipped step has none). */
export interface JournaledResults {
  lower: Partial<DnsStepResult>;
  swap: Partial<DnsStepResult>;
  restore: Partial<DnsStepResult>;
  sync: Partial<WarmSyncResult>;
  preflight: Partial<PreflightResult>;
  handover: Partial<RelaySummary> & { state?: "waiting" | "holding"; handover?: HandoverStatus | null };
  watch: Partial<WatchResult>;
  drain: Partial<RelaySummary>;
}

/**
 * A step's journaled result, typed by its kind: the one place the journal's JSON is taken as what its step
 * wrote (the journal is checked for its shape when read, not each result's fields).
 */
export function resultOf<K extends StepKind>(state: RunState, kind: K): JournaledResults[K] | undefined {
  return state.steps[kind]?.result as JournaledResults[K] | undefined;
}
