import { parseZoneFile, type ZoneEntry, type ZoneFile } from "./parse.js";
import { normalizeName } from "@cutover/core";

export interface ZoneEdit {
  /** The entry's record id (from parseZoneFile). */
  id: string;
  after: { content: string; ttl: number };
}

interface Splice {
  start: number;
  end: number;
  text: string;
}

/** Quotes a TXT value as RFC 1035 character-strings of at most 255 bytes each. */
export function quoteTxt(value: string): string {
  const chunks: string[] = [];
  const bytes = Buffer.from(value, "utf8");
  for (let i = 0; i < bytes.length || chunks.length === 0; i += 255) {
    chunks.push(bytes.subarray(i, i + 255).toString("utf8"));
  }
  return chunks.map((c) => `"${c.replace(/["\\]/g, (m) => `\\${m}`)}"`).join(" ");
}

/**
 * The next SOA serial: date-based `YYYYMMDDnn` when the old one looks like a date (today's date with
 * nn = 00, or the old value + 1 when that is not larger), otherwise old + 1, wrapping as RFC 1982 allows.
 */
export function nextSerial(old: number, today: Date): number {
  const s = String(old);
  const looksLikeDate = s.length === 10 && /^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{2}$/.test(s);
  if (looksLikeDate) {
    const d = today.toISOString().slice(0, 10).replaceAll("-", "");
    const fresh = Number(`${d}00`);
    return fresh > old ? fresh : old + 1;
  }
  return (old + 1) % 2 ** 32 || 1;
}

function replacementsFor(entry: ZoneEntry, after: ZoneEdit["after"]): Splice[] {
  const splices: Splice[] = [];
  const r = entry.record;
  if (after.content !== r.content) {
    const first = entry.rdata[0];
    const last = entry.rdata[entry.rdata.length - 1];
    if (!first || !last) throw new Error(`${r.name} ${r.type} has no data to replace`);
    const text = r.type === "TXT" || r.type === "SPF" ? quoteTxt(after.content) : after.content;
    splices.push({ start: first.start, end: last.end, text });
  }
  if (after.ttl !== r.ttl || (entry.ttlImplicit && after.ttl !== r.ttl)) {
    splices.push(ttlSplice(entry, after.ttl));
  }
  return splices;
}

function ttlSplice(entry: ZoneEntry, ttl: number): Splice {
  if (entry.ttlToken) return { start: entry.ttlToken.start, end: entry.ttlToken.end, text: String(ttl) };
  // Insert an explicit TTL before the class/type, after the owner.
  const at = entry.ownerToken ? entry.ownerToken.end : entry.typeToken.start;
  return entry.ownerToken ? { start: at, end: at, text: ` ${ttl}` } : { start: at, end: at, text: `${ttl} ` };
}

function splice(text: string, splices: Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.start - a.start))
    out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}

function identity(e: ZoneEntry): string {
  return `${e.record.name}|${e.record.type}|${e.record.content}`;
}

/**
 * Applies edits to a zone file's text, changing only the tokens concerned, and bumps the SOA serial.
 * Records that are not edited keep their effective TTL: when an inserted TTL would change what they
 * inherit (RFC 1035's "last explicit TTL"), theirs is written out explicitly too.
 */
export function editZoneFile(
  zone: ZoneFile,
  edits: readonly ZoneEdit[],
  options: { today: Date; file?: string },
): string {
  const byId = new Map(zone.entries.map((e) => [e.record.id, e]));
  const splices: Splice[] = [];
  const edited = new Set<ZoneEntry>();
  for (const edit of edits) {
    const entry = byId.get(edit.id);
    if (!entry) throw new Error(`no record with id ${edit.id} in zone ${zone.origin}`);
    edited.add(entry);
    splices.push(...replacementsFor(entry, edit.after));
  }
  if (zone.serial && edits.length > 0) {
    splices.push({
      start: zone.serial.token.start,
      end: zone.serial.token.end,
      text: String(nextSerial(zone.serial.value, options.today)),
    });
  }
  const parseOpts = { origin: zone.origin, ...(options.file ? { file: options.file } : {}) };
  let text = splice(zone.text, splices);
  // Pin TTLs of untouched records whose inherited TTL drifted. Positions shift, so re-parse each pass.
  const want = new Map(zone.entries.filter((e) => !edited.has(e)).map((e) => [identity(e), e.record.ttl]));
  for (let pass = 0; pass < 3; pass++) {
    const now = parseZoneFile(text, parseOpts);
    const drift = now.entries.filter((e) => {
      const ttl = want.get(identity(e));
      return ttl !== undefined && e.record.ttl !== ttl && e.record.type !== "SOA";
    });
    if (drift.length === 0) return text;
    text = splice(
      text,
      drift.map((e) => ttlSplice(e, want.get(identity(e))!)),
    );
  }
  return text;
}

/** The zone name a file path is for, when it follows `example.com.zone` / `db.example.com`. */
export function zoneNameFromPath(path: string): string {
  const base = path.split("/").pop() ?? path;
  return normalizeName(base.replace(/^db\./, "").replace(/\.(zone|db|hosts)$/, ""));
}
