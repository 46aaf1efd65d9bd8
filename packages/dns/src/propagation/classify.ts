import { canonicalData, relevantTxt, sameData } from "./expect.js";
import type { QueryResult, RecordView } from "./query.js";

/**
 * NEW: only expected records. OLD: only old ones. MIXED: both. NEGATIVE: NXDOMAIN or NODATA.
 * ERROR: no usable answer (timeout, SERVFAIL, REFUSED, malformed). UNEXPECTED: records that are neither.
 */
export type AnswerStatus = "NEW" | "OLD" | "MIXED" | "NEGATIVE" | "ERROR" | "UNEXPECTED";

export interface Expectation {
  /** The addresses the name should now resolve to (both families allowed). */
  expect: readonly string[];
  /** The addresses it resolved to before. Without them, any address that is not expected counts as OLD. */
  old?: readonly string[];
  /**
   * Other types, each with its values in presentation form: MX `10 mail.example.net` (or only the
   * exchange: any preference), TXT the whole text (`v=spf1 ip4:203.0.113.20 -all`: only the name's SPF
   * records are compared), CNAME the target, NS each server name. Without `old`, any other value is OLD.
   */
  records?: Readonly<Partial<Record<string, { expect: readonly string[]; old?: readonly string[] }>>>;
  /** The types to ask for; default the address families of `expect`/`old` and every type in `records`. */
  types?: readonly string[];
}

/** The expected and old values of one type (A/AAAA from the addresses), or undefined when it has none. */
export function valuesFor(e: Expectation, type: string): { expect: string[]; old?: string[] } | undefined {
  if (type === "A" || type === "AAAA") {
    const expect = e.expect.filter((a) => familyType(a) === type);
    const old = e.old?.filter((a) => familyType(a) === type);
    const r = e.records?.[type];
    return {
      expect: [...expect, ...(r?.expect ?? [])],
      ...(old || r?.old ? { old: [...(old ?? []), ...(r?.old ?? [])] } : {}),
    };
  }
  const r = e.records?.[type];
  return r ? { expect: [...r.expect], ...(r.old ? { old: [...r.old] } : {}) } : undefined;
}

/** One classified answer. `ttl` is the remaining TTL of the address RRset as this server reported it. */
export interface Observation {
  status: AnswerStatus;
  /** ms since epoch when the answer arrived. */
  at: number;
  /** The answer's records: addresses for A/AAAA, else the data (`10 mail.example.net`, the TXT text, a name). */
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

/**
 * The record types to query: `types` when given; else A when any address (new or old) is IPv4, AAAA when
 * any is IPv6, then every type with values in `records`.
 */
export function typesFor(e: Expectation): string[] {
  if (e.types) return [...new Set(e.types)];
  const all = [...e.expect, ...(e.old ?? [])].map(familyType);
  const families = (["A", "AAAA"] as const).filter((t) => all.includes(t) || e.records?.[t] !== undefined);
  return [...families, ...Object.keys(e.records ?? {}).filter((t) => t !== "A" && t !== "AAAA")];
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
 * value (say AAAA after a move to an IPv4-only host) counts NEGATIVE answers as NEW. For TXT only the
 * records the expectation is about are compared (the name's SPF records for an SPF text).
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
  const values = valuesFor(e, type) ?? { expect: [] };
  const expectT = values.expect;
  const oldT = values.old;
  const negative = (cnames: string[]): Observation => {
    const neg = negativeTtlOf(r.authorities);
    const o: Observation = { ...head, cnames, status: expectT.length === 0 ? "NEW" : "NEGATIVE" };
    if (neg !== undefined) o.negativeTtl = neg;
    return o;
  };
  if (r.rcode === "NXDOMAIN") return negative(followChain(result.name, r.answers, type).cnames);
  const chain = followChain(result.name, r.answers, type);
  let records = chain.records;
  if (type === "TXT" && expectT.length > 0) {
    const keep = new Set(
      relevantTxt(
        [...expectT, ...(oldT ?? [])],
        records.map((x) => x.data),
      ),
    );
    records = records.filter((x) => keep.has(x.data));
  }
  if (records.length === 0) return negative(chain.cnames);
  const data = records.map((x) => x.data);
  const isNew = data.map((d) => expectT.some((x) => sameData(type, x, d)));
  const isOld = data.map((d, i) => (oldT ? oldT.some((x) => sameData(type, x, d)) : !isNew[i]));
  const ttl = Math.min(...records.map((x) => x.ttl));
  let status: AnswerStatus;
  if (isNew.every(Boolean)) status = "NEW";
  else if (data.some((_, i) => !isNew[i] && !isOld[i])) status = "UNEXPECTED";
  else if (isOld.every(Boolean)) status = "OLD";
  else status = "MIXED";
  return {
    ...head,
    cnames: chain.cnames,
    status,
    addresses: type === "A" || type === "AAAA" ? data : data.map((d) => canonicalData(type, d)),
    ttl,
  };
}
