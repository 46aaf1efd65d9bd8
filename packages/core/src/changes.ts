import type { DnsRecord } from "./records.js";

/**
 * A DNS change as data: what a step does to each record, planned by `@cutover/dns` (`planLower`, `planSwap`,
 * …), journaled by the runners and shown by every view. Here so that the model (the timeline, the journal,
 * the per-step results) can name it without standing on the providers.
 */

/** One planned change to one existing record. Nothing is ever deleted. */
export interface RecordChange {
  zone: string;
  /** The record's identity: provider id, owner name and type. */
  id: string;
  name: string;
  type: string;
  before: { content: string; ttl: number };
  after: { content: string; ttl: number };
  /**
   * The record as planned: as read when planning, or the original from the journal for restore/rollback
   * (so provider facts such as Cloudflare's TTL 1 = automatic come back). Providers keep what they do not change.
   */
  record: DnsRecord;
  /** The record as read just before writing (set by `applyChangeSet`); providers write over this one. */
  current?: DnsRecord;
  /** Other contents the record may have when this change starts (an SPF record rolled back after a restore). */
  alsoBefore?: string[];
  /** Human notes such as "TTL 250 snapped up to 300 (provider steps)". */
  notes?: string[];
  /** A member of a moving record's RRset that stays on its address: only its TTL follows the step's. */
  sibling?: boolean;
}

export type ChangeStep = "lower" | "swap" | "restore" | "rollback";

export interface ChangeSet {
  step: ChangeStep;
  changes: RecordChange[];
}

export type ChangeOutcome =
  | { status: "applied"; change: RecordChange }
  /** The record already had the target content and TTL: nothing to do (a rerun after a partial failure). */
  | { status: "already"; change: RecordChange }
  | {
      status: "failed";
      change: RecordChange;
      error: string;
      /** The read-back shows the new value although the write reported a failure (e.g. a lost answer). */
      changed?: boolean;
    }
  /** The record no longer has either the before or the after state: someone else changed it. Untouched. */
  | {
      status: "conflict";
      change: RecordChange;
      found: { content: string; ttl: number } | undefined;
    }
  /** Not attempted because an earlier call failed (e.g. the batch containing it). */
  | { status: "pending"; change: RecordChange };

/** What a provider can do; the planner and the apply ask these instead of asking which provider it is. */
export interface ProviderCapabilities {
  /** Lowest TTL the provider accepts for a record that is not proxied. */
  minTtl: number;
  maxTtl: number;
  /** When set, the only TTLs accepted; other values are rounded up to the next step (Linode). */
  ttlSteps?: readonly number[];
  /** Applies all of a zone's changes in one call, all or nothing (Cloudflare batch, RFC 2136 UPDATE). */
  batch: boolean;
  /** Largest number of records per batch call. */
  maxBatch?: number;
  /** Records can be proxied (Cloudflare), which have no TTL to lower. */
  proxied: boolean;
  /** A swap is an atomic compare-and-swap on the server (RFC 2136 prerequisites). */
  atomicSwap: boolean;
}
