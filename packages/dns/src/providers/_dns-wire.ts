import { randomInt } from "node:crypto";
import packet, { type Answer } from "dns-packet";
import { normalizeName, type DnsRecord, type RecordChange, canonicalIp } from "@cutover/core";

/** DNS wire helpers for the RFC 2136 provider: records in dns-packet form, UPDATE messages, rcodes. */

/** dns-packet's record and question coders, which its typings do not declare. */
const coders = packet as unknown as {
  answer: { encode(a: Answer, buf?: Buffer, offset?: number): Buffer; encodingLength(a: Answer): number };
  question: {
    encode(q: { name: string; type: string; class: string }, buf: Buffer): unknown;
    encodingLength(q: { name: string; type: string; class: string }): number;
  };
  name: { encodingLength(n: string): number };
};

const RCODES = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
  "YXDOMAIN",
  "YXRRSET",
  "NXRRSET",
  "NOTAUTH",
  "NOTZONE",
];
const OPCODE_UPDATE = 5;
const CLASS_NONE = 254;
/** Types read and written; others in the zone are left alone. */
export const TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "PTR", "SRV"];

export function header(id: number, opcode: number, counts: [number, number, number, number]): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(opcode << 11, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + i * 2));
  return b;
}

/** One resource record in wire form; `klass` NONE (254) marks "delete this RR" in an UPDATE. */
export function rr(a: Answer, klass?: number): Buffer {
  const buf = coders.answer.encode(a);
  if (klass !== undefined) buf.writeUInt16BE(klass, coders.name.encodingLength(a.name) + 2);
  return buf;
}

/** The zone section of an UPDATE: the zone's name, type SOA, class IN. */
export function zoneSection(zone: string): Buffer {
  const q = { name: zone, type: "SOA", class: "IN" };
  const buf = Buffer.alloc(coders.question.encodingLength(q));
  coders.question.encode(q, buf);
  return buf;
}

export function txtChunks(text: string): Buffer[] {
  const b = Buffer.from(text, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

/** A record's data in dns-packet form, from cutover's presentation `content`. */
export function dataFor(type: string, content: string): unknown {
  switch (type) {
    case "MX": {
      const [pref, ...host] = content.split(/\s+/);
      return { preference: Number(pref), exchange: host.join(" ").replace(/\.$/, "") };
    }
    case "TXT":
      return txtChunks(content);
    case "SRV": {
      const [priority, weight, port, target] = content.split(/\s+/);
      return {
        priority: Number(priority),
        weight: Number(weight),
        port: Number(port),
        target: String(target).replace(/\.$/, ""),
      };
    }
    case "CNAME":
    case "NS":
    case "PTR":
      return content.replace(/\.$/, "");
    default:
      return content;
  }
}

export function contentOf(a: Answer): string | undefined {
  const d = (a as { data?: unknown }).data;
  switch (a.type) {
    case "A":
      return String(d);
    case "AAAA":
      return String(d);
    case "MX": {
      const m = d as { preference: number; exchange: string };
      return `${m.preference} ${normalizeName(m.exchange)}`;
    }
    case "TXT":
      return (Array.isArray(d) ? d : [d]).map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : String(x))).join("");
    case "SRV": {
      const s = d as { priority: number; weight: number; port: number; target: string };
      return `${s.priority} ${s.weight} ${s.port} ${normalizeName(s.target)}`;
    }
    case "CNAME":
    case "NS":
    case "PTR":
      return normalizeName(String(d));
    default:
      return undefined;
  }
}

export function idFor(name: string, type: string, content: string): string {
  const c = type === "A" || type === "AAAA" ? canonicalIp(content) : content;
  return `${name}/${type}/${c}`;
}

/** One UPDATE for a chunk of changes: require each touched RRset as read, delete the old RRs, add the new. */
export function buildUpdate(zone: string, current: readonly DnsRecord[], changes: readonly RecordChange[]): Buffer {
  const sets = new Map<string, DnsRecord[]>();
  for (const c of changes) {
    const k = `${c.name}|${c.type}`;
    if (!sets.has(k))
      sets.set(
        k,
        current.filter((r) => r.name === c.name && r.type === c.type),
      );
  }
  const prereq = [...sets.values()]
    .flat()
    .map((r) => rr({ name: r.name, type: r.type, class: "IN", ttl: 0, data: dataFor(r.type, r.content) } as Answer));
  const updates: Buffer[] = [];
  for (const c of changes) {
    const cur = c.current ?? c.record;
    updates.push(
      rr({ name: c.name, type: c.type, class: "IN", ttl: 0, data: dataFor(c.type, cur.content) } as Answer, CLASS_NONE),
    );
    updates.push(
      rr({
        name: c.name,
        type: c.type,
        class: "IN",
        ttl: c.after.ttl,
        data: dataFor(c.type, c.after.content),
      } as Answer),
    );
  }
  return Buffer.concat([
    header(randomInt(65536), OPCODE_UPDATE, [1, prereq.length, updates.length, 0]),
    zoneSection(zone),
    ...prereq,
    ...updates,
  ]);
}

/** The rcode name of an answer. */
export function rcodeOf(msg: Buffer): string {
  return RCODES[msg.readUInt16BE(2) & 0xf] ?? `RCODE${msg.readUInt16BE(2) & 0xf}`;
}
