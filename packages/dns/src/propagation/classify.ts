import { canonicalIp } from "../address.js";
import type { QueryResult, RecordView } from "./query.js";

/**
 * NEW: only expected addresses. OLD: only old ones. MIXED: both. NEGATIVE: NXDOMAIN or NODATA.
 * ERROR: no usable answer (timeout, SERVFAIL, REFUSED, malformed). UNEXPECTED: addresses that are neither.
 */
export type AnswerStatus = "NEW" | "OLD" | "MIXED" | "NEGATIVE" | "ERROR" | "UNEXPECTED";

export interface Expectation {
  /** The addresses the name should now resolve to (both families allowed). */
  expect: readonly string[];
  /** The addresses it resolved to before. Without them, any address that is not expected counts as OLD. */
  old?: readonly string[];
}

/** One classified answer. `ttl` is the remaining TTL of the address RRset as this server reported it. */
export interface Observation {
  status: AnswerStatus;
  /** ms since epoch when the answer arrived. */
  at: number;
  addresses: string[];
  ttl?: number;
  /** CNAMEs followed from the query name, in order. */
  cnames: string[];
  /** For NEGATIVE: the negative-caching TTL from the SOA in the authority section (min of its TTL and MINIMUM). */
  negativeTtl?: number;
  rcode?: string;
  aa?: boolean;
  transport?: "udp" | "tcp" | "doh";
  /** Why it is ERROR. */
  error?: string;
}

export function familyType(address: string): "A" | "AAAA" {
  return address.includes(":") ? "AAAA" : "A";
}

/** The record types to query: A when any address (new or old) is IPv4, AAAA when any is IPv6. */
export function typesFor(e: Expectation): Array<"A" | "AAAA"> {
  const all = [...e.expect, ...(e.old ?? [])].map(familyType);
  return (["A", "AAAA"] as const).filter((t) => all.includes(t));
}

/** The SOA negative TTL of an authority section, when there is one. */
export function negativeTtlOf(authorities: readonly RecordView[]): number | undefined {
  const soa = authorities.find((r) => r.type === "SOA");
  if (!soa) return undefined;
  const minimum = Number(soa.data.split(" ")[6]);
  return Number.isFinite(minimum) ? Math.min(soa.ttl, minimum) : soa.ttl;
}

/** Follows the CNAME chain from `name` through the answer section (loops and over-long chains stop it). */
export function followChain(
  name: string,
  answers: readonly RecordView[],
  type: string,
): { final: string; cnames: string[]; records: RecordView[] } {
  let current = name.toLowerCase().replace(/\.$/, "");
  const cnames: string[] = [];
  for (let hops = 0; hops < 16; hops++) {
    const direct = answers.filter((r) => r.name === current && r.type === type);
    if (direct.length > 0) return { final: current, cnames, records: direct };
    const cname = answers.find((r) => r.name === current && r.type === "CNAME");
    if (!cname) break;
    current = cname.data.toLowerCase().replace(/\.$/, "");
    if (cnames.includes(current)) break;
    cnames.push(current);
  }
  return { final: current, cnames, records: [] };
}

/**
 * Classifies one query result against the expectation for the queried type. A type with no expected
 * address (say AAAA after a move to an IPv4-only host) counts NEGATIVE answers as NEW.
 */
export function classifyAnswer(result: QueryResult, e: Expectation, at: number = Date.now()): Observation {
  const base = { at, cnames: [] as string[], addresses: [] as string[], transport: result.transport };
  const r = result.response;
  if (!r)
    return {
      ...base,
      status: "ERROR",
      error: result.error ? `${result.error.kind}: ${result.error.message}` : "no answer",
    };
  const head = { ...base, rcode: r.rcode, aa: r.aa };
  if (r.rcode !== "NOERROR" && r.rcode !== "NXDOMAIN") return { ...head, status: "ERROR", error: r.rcode };
  const type = result.type;
  const expectT = e.expect.filter((a) => familyType(a) === type).map(canonicalIp);
  const oldT = e.old?.filter((a) => familyType(a) === type).map(canonicalIp);
  const negative = (cnames: string[]): Observation => {
    const neg = negativeTtlOf(r.authorities);
    const o: Observation = { ...head, cnames, status: expectT.length === 0 ? "NEW" : "NEGATIVE" };
    if (neg !== undefined) o.negativeTtl = neg;
    return o;
  };
  if (r.rcode === "NXDOMAIN") return negative(followChain(result.name, r.answers, type).cnames);
  const chain = followChain(result.name, r.answers, type);
  if (chain.records.length === 0) return negative(chain.cnames);
  const addresses = chain.records.map((x) => canonicalIp(x.data));
  const ttl = Math.min(...chain.records.map((x) => x.ttl));
  const isNew = addresses.map((a) => expectT.includes(a));
  const isOld = addresses.map((a) => (oldT ? oldT.includes(a) : !expectT.includes(a)));
  let status: AnswerStatus;
  if (isNew.every(Boolean)) status = "NEW";
  else if (addresses.some((_, i) => !isNew[i] && !isOld[i])) status = "UNEXPECTED";
  else if (isOld.every(Boolean)) status = "OLD";
  else status = "MIXED";
  return { ...head, cnames: chain.cnames, status, addresses: chain.records.map((x) => x.data), ttl };
}
