import { ttlText } from "./words.js";
import type { ChangeOutcome, DnsRecord, RecordChange } from "@cutover/core";

/**
 * The one JSON shape of a record (documented in docs/plan-json.md): `dns records --json`, `plan --json` and
 * the timeline's JSON use it.
 */
export function recordToJson(r: DnsRecord) {
  return {
    zone: r.zone,
    id: r.id,
    name: r.name,
    type: r.type,
    content: r.content,
    ttl: r.ttl,
    ...(r.proxied ? { proxied: true } : {}),
  };
}

/** A record the move does not change but that follows it (an MX or CNAME naming a moving host), and why. */
export function infoToJson(i: { record: DnsRecord; why: string }) {
  return { name: i.record.name, type: i.record.type, content: i.record.content, why: i.why };
}

/** The one JSON shape of a record's change: in a timeline step, a rollback, and each `dns` verb's output. */
export function changeToJson(c: RecordChange) {
  return {
    zone: c.zone,
    id: c.id,
    name: c.name,
    type: c.type,
    before: c.before,
    after: c.after,
    ...(c.record.proxied ? { proxied: true } : {}),
    ...(c.sibling ? { stays: true } : {}),
    ...(c.notes ? { notes: c.notes } : {}),
  };
}

/** A change as applied: its status first, then the change, and what went wrong. */
export function outcomeToJson(o: ChangeOutcome) {
  return {
    status: o.status,
    ...changeToJson(o.change),
    ...(o.status === "failed" ? { error: o.error, ...(o.changed ? { changed: true } : {}) } : {}),
    ...(o.status === "conflict" ? { found: o.found ?? null } : {}),
  };
}

/** One record's change as a line: `www A  198.51.100.10 → 203.0.113.20, ttl 300` (a sibling: "stays"). */
export function describeChange(c: RecordChange): string {
  const before = ttlText(c.before.ttl, c.record);
  const after = ttlText(c.after.ttl, c.record);
  const what = c.sibling
    ? `${c.after.content} stays (same RRset), ${c.before.ttl === c.after.ttl ? `ttl ${after}` : `ttl ${before} → ${after}`}`
    : c.before.content === c.after.content
      ? c.before.ttl === c.after.ttl
        ? `${c.after.content}, ttl ${after}`
        : `ttl ${before} → ${after}`
      : `${c.before.content} → ${c.after.content}${c.before.ttl === c.after.ttl ? `, ttl ${after}` : `, ttl ${before} → ${after}`}`;
  return `${c.name} ${c.type}  ${what}`;
}
