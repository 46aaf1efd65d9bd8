import { checkAuthoritative, type AuthoritativeOptions } from "./authoritative.js";
import type { Expectation } from "./classify.js";
import { canonicalData } from "./expect.js";
import type { ChangeSet } from "@cutover/core";

/** Where the authoritative servers are found: as the watch finds them (see `AuthoritativeOptions`). */
export type ServedOptions = Omit<AuthoritativeOptions, "names" | "expectation" | "apex" | "now"> & {
  /** How long to wait for every server to serve the change (default 20 s). */
  timeoutMs?: number;
  /** Between two reads (default 500 ms). */
  intervalMs?: number;
  /** Real waits by default: the servers take real time to load a change, whatever the run's clock. */
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
};

export interface ServedReport {
  /** Every reachable authoritative server serves every changed RRset with its new data and TTL. */
  served: boolean;
  /** The servers asked (`ns1.example.com 192.0.2.53`). */
  servers: string[];
  /** What is not served yet, one line per server and RRset: which server serves what. */
  problems: string[];
  /** What could not be checked (no server found for a zone, a server that does not answer). */
  notes: string[];
}

interface Wanted {
  zone: string;
  name: string;
  type: string;
  contents: string[];
  ttl: number;
}

/**
 * The RRsets a change set leaves behind, as the authoritative servers should serve them: each changed
 * name and type with the new contents and the one TTL. Proxied records (their servers answer with the
 * proxy's addresses) and types other than A, AAAA and SPF TXT are not compared.
 */
export function servedRrsets(set: ChangeSet): Wanted[] {
  const by = new Map<string, Wanted>();
  for (const c of set.changes) {
    if (c.record.proxied || !["A", "AAAA", "TXT"].includes(c.type)) continue;
    const key = `${c.zone}|${c.name}|${c.type}`;
    const w = by.get(key) ?? { zone: c.zone, name: c.name, type: c.type, contents: [], ttl: c.after.ttl };
    const data = canonicalData(c.type, c.after.content);
    if (!w.contents.includes(data)) w.contents.push(data);
    w.ttl = Math.min(w.ttl, c.after.ttl);
    by.set(key, w);
  }
  return [...by.values()];
}

function expectationOf(w: Wanted): Expectation {
  if (w.type === "TXT") return { expect: [], records: { TXT: { expect: w.contents } }, types: ["TXT"] };
  return { expect: w.contents, types: [w.type] };
}

/** One read of every authoritative server of each changed zone (RD=0), against what the step wrote. */
export async function readServed(set: ChangeSet, options: ServedOptions = {}): Promise<ServedReport> {
  const wanted = servedRrsets(set);
  const problems: string[] = [];
  const notes: string[] = [];
  const servers = new Set<string>();
  // One query per RRset and server: the expectation is the RRset's own.
  for (const w of wanted) {
    const check = await checkAuthoritative({
      ...options,
      names: [w.name],
      apex: w.zone,
      expectation: expectationOf(w),
    });
    for (const zone of check.zones) {
      if (zone.servers.length === 0) {
        notes.push(`no authoritative server of ${zone.apex} found to read back from (${zone.problems.join("; ")})`);
        continue;
      }
      let answered = 0;
      for (const s of zone.servers) {
        servers.add(`${s.ns} ${s.address}`);
        for (const a of s.answers) {
          const o = a.observation;
          if (o.status === "ERROR") {
            notes.push(`${s.ns} (${s.address}) did not answer for ${a.name} ${a.type}: ${o.error ?? "no answer"}`);
            continue;
          }
          answered++;
          const got = o.addresses.map((x) => canonicalData(a.type, x));
          if (!a.rrsetMatches || o.ttl !== w.ttl)
            problems.push(
              `${s.ns} (${s.address}) serves ${a.name} ${a.type} ${got.length ? `${got.join(", ")} ttl ${o.ttl}` : o.status.toLowerCase()}, expected ${w.contents.join(", ")} ttl ${w.ttl}`,
            );
        }
      }
      // A server that does not answer serves nothing stale; but one of them must show the change.
      if (answered === 0) problems.push(`no authoritative server of ${zone.apex} answered for ${w.name} ${w.type}`);
    }
  }
  return { served: problems.length === 0, servers: [...servers].sort(), problems, notes: [...new Set(notes)] };
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Reads a step's change back from the zone's authoritative servers until they all serve it, or the bound
 * passes: a write is not done until the servers answer with it (a zone file whose reload did nothing, a
 * hidden primary whose secondaries lag, a provider whose API answers before its servers have it).
 */
export async function waitServed(set: ChangeSet, options: ServedOptions = {}): Promise<ServedReport> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const interval = options.intervalMs ?? 500;
  const sleep = options.sleep ?? realSleep;
  const start = Date.now();
  for (;;) {
    const report = await readServed(set, options);
    if (report.served || Date.now() - start + interval > timeoutMs || options.signal?.aborted) return report;
    await sleep(interval);
  }
}
