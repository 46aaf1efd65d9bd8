import { readZoneText } from "../zonefile/read.js";
import type * as dnsPacket from "dns-packet";
import { parseTtlText, parseZoneFile, ZoneFileError, type ZoneEntry } from "../zonefile/parse.js";
import { zoneNameFromPath } from "../zonefile/edit.js";
import { normalizeName } from "@cutover/core";

/** A zone ready to answer from: records by owner name, converted to wire-ready answers. */
export interface ServedZone {
  origin: string;
  file: string;
  serial: number;
  soa: dnsPacket.Answer;
  /** Negative-caching TTL: min(SOA TTL, SOA MINIMUM). */
  negativeTtl: number;
  byName: Map<string, dnsPacket.Answer[]>;
  /** Records of types this server does not serve, skipped with a reason. */
  skipped: string[];
}

const num = (text: string | undefined): number => parseTtlText(text ?? "") ?? Number(text);

function txtStrings(entry: ZoneEntry): Buffer[] {
  const out: Buffer[] = [];
  for (const t of entry.rdata) {
    const b = Buffer.from(t.text, "utf8");
    for (let i = 0; i < b.length || (i === 0 && b.length === 0); i += 255) out.push(b.subarray(i, i + 255));
  }
  return out;
}

/** Converts one zone-file entry to a dns-packet answer, or undefined for a type not served. */
export function toAnswer(entry: ZoneEntry): dnsPacket.Answer | undefined {
  const r = entry.record;
  const base = { name: r.name, ttl: r.ttl, class: "IN" as const };
  const parts = r.content.split(/\s+/);
  switch (r.type) {
    case "A":
    case "AAAA":
      return { ...base, type: r.type, data: r.content };
    case "CNAME":
    case "NS":
    case "PTR":
      return { ...base, type: r.type, data: r.content };
    case "MX":
      return { ...base, type: "MX", data: { preference: Number(parts[0]), exchange: parts[1] ?? "." } };
    case "TXT":
    case "SPF":
      return { ...base, type: "TXT", data: txtStrings(entry) };
    case "SRV":
      return {
        ...base,
        type: "SRV",
        data: { priority: Number(parts[0]), weight: Number(parts[1]), port: Number(parts[2]), target: parts[3] ?? "." },
      };
    case "CAA":
      return {
        ...base,
        type: "CAA",
        data: {
          flags: Number(parts[0]),
          tag: parts[1] as "issue",
          value: entry.rdata
            .slice(2)
            .map((t) => t.text)
            .join(" "),
        },
      };
    case "SOA":
      return {
        ...base,
        type: "SOA",
        data: {
          mname: parts[0] ?? ".",
          rname: parts[1] ?? ".",
          serial: Number(parts[2]),
          refresh: num(parts[3]),
          retry: num(parts[4]),
          expire: num(parts[5]),
          minimum: num(parts[6]),
        },
      };
    default:
      return undefined;
  }
}

/** The zone a file is for: `$ORIGIN` at its top, else an absolute SOA owner, else the file's name. */
export function originOf(text: string, file: string): string {
  const dollar = /^\$ORIGIN\s+(\S+)/im.exec(text);
  if (dollar) return normalizeName(dollar[1]!);
  const soa = /^(\S+\.)\s+(?:\S+\s+){0,3}SOA\s/im.exec(text);
  if (soa) return normalizeName(soa[1]!);
  return zoneNameFromPath(file);
}

/** Parses zone text into a served zone; throws ZoneFileError when it has no SOA at its apex. */
export function buildZone(text: string, file: string, origin = originOf(text, file)): ServedZone {
  const parsed = parseZoneFile(text, { origin, file });
  const byName = new Map<string, dnsPacket.Answer[]>();
  const skipped: string[] = [];
  let soa: dnsPacket.Answer | undefined;
  for (const entry of parsed.entries) {
    const a = toAnswer(entry);
    if (!a) {
      skipped.push(`${entry.record.name} ${entry.record.type}`);
      continue;
    }
    if (a.type === "SOA" && entry.record.name === parsed.origin) soa = a;
    const list = byName.get(a.name) ?? [];
    list.push(a);
    byName.set(a.name, list);
  }
  if (!soa) throw new ZoneFileError(file, 1, `no SOA record at the apex ${parsed.origin}`);
  const soaData = (soa as dnsPacket.SoaAnswer).data;
  return {
    origin: parsed.origin,
    file,
    serial: soaData.serial ?? 0,
    soa,
    negativeTtl: Math.min(soa.type === "SOA" ? (soa.ttl ?? 0) : 0, soaData.minimum ?? 0),
    byName,
    skipped,
  };
}

export async function loadZone(file: string, origin?: string): Promise<ServedZone> {
  const text = await readZoneText(file);
  return origin === undefined ? buildZone(text, file) : buildZone(text, file, normalizeName(origin));
}
