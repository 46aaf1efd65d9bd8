import { canonicalIp } from "../address.js";
import type { RecordChange } from "../changes.js";
import type { DnsRecord } from "../records.js";

function sameContent(type: string, a: string, b: string): boolean {
  if (type === "A" || type === "AAAA") return canonicalIp(a) === canonicalIp(b);
  return a === b;
}

/** The record's content is one this change starts from or ends at. */
function startsOrEnds(c: RecordChange, content: string): boolean {
  return [c.before.content, c.after.content, ...(c.alsoBefore ?? [])].some((x) => sameContent(c.type, content, x));
}

/** Finds the record a change is about: by id, else by name, type and a content the change knows. */
export function findRecord(records: readonly DnsRecord[], c: RecordChange): DnsRecord | undefined {
  const byId = records.find((r) => r.id === c.id && r.type === c.type);
  if (byId) return byId;
  const byContent = records.find((r) => r.name === c.name && r.type === c.type && startsOrEnds(c, r.content));
  if (byContent) return byContent;
  // Ids derived from content (RFC 2136) change with it: the only record of that name and type is the one.
  const same = records.filter((r) => r.name === c.name && r.type === c.type);
  return same.length === 1 ? same[0] : undefined;
}

/** Where a record stands against a change: already done, ready to apply, or changed by someone else. */
export function classifyChange(
  records: readonly DnsRecord[],
  c: RecordChange,
): "already" | "apply" | "conflict" | "missing" {
  const r = findRecord(records, c);
  if (!r) return "missing";
  if (sameContent(c.type, r.content, c.after.content) && (r.ttl === c.after.ttl || r.proxied)) return "already";
  if (startsOrEnds(c, r.content)) return "apply";
  return "conflict";
}
