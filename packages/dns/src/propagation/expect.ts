import { isIP } from "node:net";
import { DnsError } from "../errors.js";
import { canonicalIp } from "@cutover/core";

/** The record types propagation checks, and what is compared for each. */
export const CHECKED_TYPES = ["A", "AAAA", "MX", "TXT", "CNAME", "NS"] as const;
export type CheckedType = (typeof CHECKED_TYPES)[number];

export function isCheckedType(t: string): t is CheckedType {
  return (CHECKED_TYPES as readonly string[]).includes(t);
}

const host = (s: string) => s.trim().toLowerCase().replace(/\.$/, "");

/**
 * The comparable form of one record's data: addresses canonical, names lowercase without the final dot,
 * MX as `PREFERENCE EXCHANGE`, TXT as its text (strings joined, as resolvers hand them out).
 */
export function canonicalData(type: string, data: string): string {
  switch (type) {
    case "A":
    case "AAAA":
      return canonicalIp(data);
    case "MX": {
      const parts = data.trim().split(/\s+/);
      if (parts.length === 1) return host(parts[0]!);
      return `${Number(parts[0])} ${host(parts[1] ?? "")}`;
    }
    case "CNAME":
    case "NS":
    case "PTR":
      return host(data);
    case "TXT":
      return data.trim();
    default:
      return data.trim();
  }
}

/**
 * Whether an answered record's data is the expected value. An MX expected without a preference
 * (`mail.example.net`) matches that exchange at any preference.
 */
export function sameData(type: string, expected: string, got: string): boolean {
  const e = canonicalData(type, expected);
  const g = canonicalData(type, got);
  if (type === "MX" && !e.includes(" ")) return g.split(" ")[1] === e;
  return e === g;
}

/**
 * The TXT records an expectation is about: for `v=spf1 ...` (or DMARC, DKIM: any `v=TAG` text) only the
 * records with the same tag, since a name's TXT set usually also holds unrelated verification strings;
 * for any other text, every record.
 */
export function relevantTxt(expected: readonly string[], records: readonly string[]): string[] {
  const tags = new Set(expected.map(txtTag));
  if (tags.has(undefined)) return [...records];
  return records.filter((r) => tags.has(txtTag(r)));
}

function txtTag(text: string): string | undefined {
  const m = /^v=([A-Za-z0-9]+)(\s|;|$)/.exec(text.trim());
  return m ? m[1]!.toLowerCase() : undefined;
}

/**
 * Checks one expected value given by a user for a type, throwing a DnsError (code E_EXPECT) that says
 * what the type takes.
 */
export function checkExpectedValue(type: string, value: string): void {
  const v = value.trim();
  const bad = (what: string) => new DnsError(`${type} ${JSON.stringify(value)}: ${what}`, { code: "E_EXPECT" });
  if (v === "") throw bad("empty value");
  const name =
    /^(?=.{1,253}\.?$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
  switch (type) {
    case "A":
      if (isIP(v) !== 4) throw bad("not an IPv4 address");
      return;
    case "AAAA":
      if (isIP(v) !== 6) throw bad("not an IPv6 address");
      return;
    case "MX": {
      const parts = v.split(/\s+/);
      const [pref, exchange] = parts.length === 1 ? [undefined, parts[0]!] : [parts[0]!, parts[1] ?? ""];
      if (parts.length > 2) throw bad('write "PREFERENCE EXCHANGE" (10 mail.example.net) or just the exchange');
      if (pref !== undefined && !(/^\d+$/.test(pref) && Number(pref) <= 65535))
        throw bad("the preference is a number 0..65535");
      if (!name.test(exchange) || isIP(exchange) !== 0) throw bad("the exchange is a host name, not an address");
      return;
    }
    case "CNAME":
    case "NS":
      if (!name.test(v) || isIP(v) !== 0) throw bad("not a host name");
      return;
    case "TXT":
      if (Buffer.byteLength(v) > 4000) throw bad("longer than 4000 bytes");
      return;
    default:
      throw new DnsError(`type ${type} is not checked; use ${CHECKED_TYPES.join(", ")}`, { code: "E_EXPECT" });
  }
}
