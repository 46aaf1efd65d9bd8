/**
 * For providers that store RRsets (PowerDNS, Route 53, Hetzner): a cutover record is one member of an RRset,
 * identified by name, type and content; a change to one member rewrites its whole RRset with the other
 * members kept and one TTL for all (RFC 2181 §5.2).
 */
import { quoteTxt } from "../zonefile/edit.js";
import { idFor } from "./_dns-wire.js";
import { unquoteTxt } from "./_http.js";
import { normalizeName, type DnsRecord, type ChangeOutcome, type RecordChange, canonicalIp } from "@cutover/core";

const NAME_TYPES = new Set(["CNAME", "NS", "PTR", "DNAME", "ALIAS", "ANAME"]);

/** cutover's content from a record's presentation form (`"v=spf1 ..."`, `10 mail.example.com.`). */
export function fromPresentation(type: string, text: string): string {
  const t = text.trim();
  if (type === "TXT" || type === "SPF") return unquoteTxt(t);
  if (NAME_TYPES.has(type)) return normalizeName(t);
  if (type === "MX") {
    const [pref, host] = t.split(/\s+/);
    return `${pref} ${normalizeName(host ?? "")}`;
  }
  if (type === "SRV") {
    const [prio, weight, port, target] = t.split(/\s+/);
    return `${prio} ${weight} ${port} ${normalizeName(target ?? "")}`;
  }
  return t;
}

/** The presentation form a provider stores: TXT quoted (255-byte strings), names fully qualified. */
export function toPresentation(type: string, content: string): string {
  if (type === "TXT" || type === "SPF") return quoteTxt(content);
  if (NAME_TYPES.has(type)) return `${normalizeName(content)}.`;
  if (type === "MX") {
    const [pref, host] = content.split(/\s+/);
    return `${pref} ${normalizeName(host ?? "")}.`;
  }
  if (type === "SRV") {
    const [prio, weight, port, target] = content.split(/\s+/);
    return `${prio} ${weight} ${port} ${normalizeName(target ?? "")}.`;
  }
  return content;
}

export function sameContent(type: string, a: string, b: string): boolean {
  if (type === "A" || type === "AAAA") return canonicalIp(a) === canonicalIp(b);
  return a === b;
}

/** The members of one RRset as cutover records. */
export function rrsetRecords(
  zone: string,
  name: string,
  type: string,
  ttl: number,
  contents: readonly string[],
  meta?: Record<string, unknown>,
): DnsRecord[] {
  const n = normalizeName(name);
  return contents.map((content) => ({
    id: idFor(n, type, content),
    zone,
    name: n,
    type,
    content,
    ttl,
    ...(meta ? { meta } : {}),
  }));
}

/** One RRset to write: every member (cutover content), its one TTL, and the changes it carries. */
export interface RrsetWrite {
  name: string;
  type: string;
  ttl: number;
  contents: string[];
  /** The members as they were read just before (to delete, or to compare). */
  before: DnsRecord[];
  changes: RecordChange[];
}

/**
 * Groups changes into whole-RRset writes over the records as read now: each changed member is replaced by
 * its new content, staying members are kept, duplicates dropped; the RRset gets the changes' TTL. A change
 * whose member is no longer there fails here (someone changed the RRset since it was read).
 */
export function planRrsetWrites(
  provider: string,
  current: readonly DnsRecord[],
  changes: readonly RecordChange[],
): { writes: RrsetWrite[]; failed: ChangeOutcome[] } {
  const writes = new Map<string, RrsetWrite>();
  const failed: ChangeOutcome[] = [];
  for (const c of changes) {
    const key = `${c.name}|${c.type}`;
    let w = writes.get(key);
    if (!w) {
      const before = current.filter((r) => r.name === c.name && r.type === c.type);
      w = { name: c.name, type: c.type, ttl: c.after.ttl, contents: before.map((r) => r.content), before, changes: [] };
      writes.set(key, w);
    }
    const from = (c.current ?? c.record).content;
    const i = w.contents.findIndex((x) => sameContent(c.type, x, from));
    if (i < 0) {
      failed.push({
        status: "failed",
        change: c,
        error: `[${provider}] ${c.name} ${c.type} ${from} is no longer in its RRset; nothing written, run again`,
      });
      continue;
    }
    w.contents[i] = c.after.content;
    // One TTL per RRset: the lowest asked for wins if changes disagree (never longer than a step wants).
    w.ttl = w.changes.length === 0 ? c.after.ttl : Math.min(w.ttl, c.after.ttl);
    w.changes.push(c);
  }
  const out = [...writes.values()].filter((w) => w.changes.length > 0);
  for (const w of out)
    w.contents = w.contents.filter((x, i) => w.contents.findIndex((y) => sameContent(w.type, x, y)) === i);
  return { writes: out, failed };
}
