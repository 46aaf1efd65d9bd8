import type { DnsProvider } from "./providers/types.js";
import {
  classifyChange,
  findRecord,
  type DnsRecord,
  type ChangeOutcome,
  type ChangeSet,
  type RecordChange,
} from "@cutover/core";

export interface ApplyReport {
  step: ChangeSet["step"];
  outcomes: ChangeOutcome[];
  /** True when every change is applied or already in place, verified by reading back. */
  complete: boolean;
  /** What was finished for an earlier attempt (a pending zone reload run again). */
  notes: string[];
}

/**
 * Finishes each zone's pending write (a zone file whose reload failed or was cut off) where the provider
 * has such a thing. For a rerun that finds every record in place: in place is not done until served.
 */
export async function finishPendingWrites(
  provider: DnsProvider,
  zones: readonly string[],
): Promise<{ notes: string[]; failed: Map<string, string> }> {
  const notes: string[] = [];
  const failed = new Map<string, string>();
  if (!provider.finishPending) return { notes, failed };
  for (const zone of zones) {
    try {
      const note = await provider.finishPending(zone);
      if (note) notes.push(note);
    } catch (error) {
      failed.set(zone, error instanceof Error ? error.message : String(error));
    }
  }
  return { notes, failed };
}

/**
 * Applies a change set: reads each zone first and writes only what is missing (so a rerun after a
 * partial failure finishes the job), then reads back and verifies every record. Never throws for a
 * per-record failure: the report says record by record what is done and what is not.
 */
export async function applyChangeSet(
  provider: DnsProvider,
  set: ChangeSet,
  options: { signal?: AbortSignal; onZoneDone?: (zone: string) => void } = {},
): Promise<ApplyReport> {
  const outcomes: ChangeOutcome[] = [];
  const notes: string[] = [];
  const zones = [...new Set(set.changes.map((c) => c.zone))];
  for (const zone of zones) {
    const changes = set.changes.filter((c) => c.zone === zone);
    let current: DnsRecord[];
    try {
      current = await provider.listRecords(zone);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      for (const c of changes) outcomes.push({ status: "failed", change: c, error: message });
      continue;
    }
    const toApply: RecordChange[] = [];
    for (const c of changes) {
      const state = classifyChange(current, c);
      if (state === "already") outcomes.push({ status: "already", change: c });
      else if (state === "apply") {
        // Write over the record as it is now (its id may differ from the journaled one).
        const r = findRecord(current, c)!;
        toApply.push({ ...c, id: r.id, current: r });
      } else {
        const found = findRecord(current, c);
        outcomes.push({
          status: "conflict",
          change: c,
          found: found ? { content: found.content, ttl: found.ttl } : undefined,
        });
      }
    }
    if (toApply.length === 0) {
      // Every record is in the zone; a write an earlier attempt left unserved is finished now.
      const pending = await finishPendingWrites(provider, [zone]);
      notes.push(...pending.notes);
      const why = pending.failed.get(zone);
      if (why)
        for (const [i, o] of outcomes.entries())
          if (o.change.zone === zone && o.status === "already")
            outcomes[i] = { status: "failed", change: o.change, error: why, changed: true };
      continue;
    }
    let written: ChangeOutcome[];
    try {
      written = await provider.applyChanges(zone, toApply, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      written = toApply.map((change) => ({ status: "failed", change, error: message }));
    }
    // Read back: an "applied" that the provider cannot show us is not applied.
    let after: DnsRecord[] | undefined;
    try {
      after = await provider.listRecords(zone);
    } catch {
      after = undefined;
    }
    for (const o of written) {
      if (!after) {
        outcomes.push(
          o.status === "applied"
            ? { status: "failed", change: o.change, error: "written, but the read-back failed; run again to verify" }
            : o.status === "failed"
              ? {
                  ...o,
                  error: `${o.error}; the read-back failed too, so whether it landed is unknown: run again to verify`,
                }
              : o,
        );
        continue;
      }
      // Read back every change, not only those reported applied: a write whose answer was lost may have
      // landed, and the report must say exactly which records changed.
      const state = classifyChange(after, o.change);
      if (o.status === "applied" && state === "already") {
        outcomes.push(o);
        continue;
      }
      if (o.status === "failed" && state === "already") outcomes.push({ ...o, changed: true });
      else if (o.status === "pending" && state === "already") outcomes.push({ status: "already", change: o.change });
      else if (o.status !== "applied") outcomes.push(o);
      else {
        const r = findRecord(after, o.change);
        outcomes.push({
          status: "failed",
          change: o.change,
          error: `read back shows ${r ? `${r.content} ttl ${r.ttl}` : "no record"}, expected ${o.change.after.content} ttl ${o.change.after.ttl}`,
        });
      }
    }
    options.onZoneDone?.(zone);
  }
  // Keep the order of the change set.
  const order = new Map(set.changes.map((c, i) => [`${c.zone}|${c.name}|${c.type}|${c.before.content}`, i]));
  const key = (c: RecordChange) => order.get(`${c.zone}|${c.name}|${c.type}|${c.before.content}`) ?? 0;
  outcomes.sort((a, b) => key(a.change) - key(b.change));
  return {
    step: set.step,
    outcomes,
    complete: outcomes.every((o) => o.status === "applied" || o.status === "already"),
    notes,
  };
}
