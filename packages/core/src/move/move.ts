import { canonicalIp } from "../address.js";
import { findRecord } from "./match.js";
import {
  discoverTargets,
  planLower,
  planRestore,
  planRollback,
  planSwap,
  siblingsOf,
  type Discovery,
  type MoveAddresses,
} from "./changes.js";
import type { ChangeSet, ChangeStep, ProviderCapabilities, RecordChange } from "../changes.js";
import type { DnsRecord } from "../records.js";

export interface MoveOptions {
  /** The low TTL the records hold while the move is on (plan `dns.lowTtl`; snapped to the provider's steps). */
  lowTtl: number;
  capabilities: ProviderCapabilities;
  /** Only these owner names move (plan `dns.records`); every A/AAAA on an old address when not given. */
  names?: readonly string[] | undefined;
  /**
   * The records as they are now, when the step is applied now (a `dns` verb) rather than planned ahead (the
   * timeline): each change then starts from the record as it is (a proxied record keeps its planned TTL),
   * where it is in a state the step starts from or ends at (the other such states stay accepted in
   * `alsoBefore`, so applying it finds the same conflicts). A record in any other state keeps the planned
   * "before".
   */
  current?: readonly DnsRecord[];
}

/**
 * What a move changes, in one place: the records it moves (`targets`), the members of their RRsets that
 * stay (`siblings`), the SPF records naming the old host (`spf`), what the zone says about them (`info`),
 * the problems that stop it, and the change set of each step. Every view of a move (the timeline, `cutover
 * plan`, `dns records`, each `dns` verb and its --dry-run, the edge deployment, the report) renders these.
 */
export interface Move extends Discovery {
  lower: ChangeSet;
  swap: ChangeSet;
  restore: ChangeSet;
  rollback: ChangeSet;
}

/**
 * Plans a move from the records as they were before it (the zone before the first change, or the journaled
 * originals): pure, the same records give the same move.
 */
export function planMove(originals: readonly DnsRecord[], addresses: MoveAddresses, options: MoveOptions): Move {
  const discovery = discoverTargets(originals, addresses, options.names);
  const { targets } = discovery;
  const caps = options.capabilities;
  const low = options.lowTtl;
  const also = { spf: discovery.spf, siblings: discovery.siblings };
  const sets = {
    lower: planLower(targets, low, caps, also),
    swap: planSwap(targets, addresses, low, caps, also),
    restore: planRestore(targets, addresses, low, caps, also),
    rollback: planRollback(targets, addresses, low, caps, also),
  };
  const current = options.current;
  const now = (set: ChangeSet): ChangeSet =>
    current === undefined ? set : { step: set.step, changes: set.changes.map((c) => startingFrom(c, current)) };
  return {
    ...discovery,
    lower: now(sets.lower),
    swap: now(sets.swap),
    restore: now(sets.restore),
    rollback: now(sets.rollback),
  };
}

/** A record's change in each step of a move (by id and type); `undefined` where a step leaves it alone. */
export function recordChanges(
  move: Move,
  record: Pick<DnsRecord, "id" | "type" | "zone">,
): Record<ChangeStep, RecordChange | undefined> {
  const of = (set: ChangeSet) =>
    set.changes.find((c) => c.id === record.id && c.type === record.type && c.zone === record.zone);
  return { lower: of(move.lower), swap: of(move.swap), restore: of(move.restore), rollback: of(move.rollback) };
}

function sameContent(type: string, a: string, b: string): boolean {
  if (type === "A" || type === "AAAA") return canonicalIp(a) === canonicalIp(b);
  return a === b;
}

/** A planned change starting from the record as it is now, when that is a state the change knows. */
function startingFrom(c: RecordChange, current: readonly DnsRecord[]): RecordChange {
  const found = findRecord(current, c);
  if (!found) return c;
  const known = [c.before.content, c.after.content, ...(c.alsoBefore ?? [])];
  if (!known.some((k) => sameContent(c.type, found.content, k))) return c;
  const others = [c.before.content, ...(c.alsoBefore ?? [])].filter(
    (k) => !sameContent(c.type, found.content, k) && !sameContent(c.type, c.after.content, k),
  );
  // A proxied record has no TTL of its own for clients (Cloudflare reads its "automatic" 1 as 300): keep the planned one.
  const ttl = c.record.proxied || found.proxied ? c.before.ttl : found.ttl;
  const out: RecordChange = { ...c, before: { content: found.content, ttl } };
  delete out.alsoBefore;
  const also = [...new Set(others)];
  if (also.length > 0) out.alsoBefore = also;
  return out;
}

const isAddr = (r: DnsRecord) => r.type === "A" || r.type === "AAAA";
const family = (r: DnsRecord): "ipv4" | "ipv6" => (r.type === "AAAA" ? "ipv6" : "ipv4");
const on = (r: DnsRecord, addr: string | undefined) =>
  addr !== undefined && canonicalIp(r.content) === canonicalIp(addr);

/** SPF text as it was before the swap added the new addresses. */
function spfBeforeSwap(content: string, a: MoveAddresses): string {
  const newOnes = [a.new.ipv4, a.new.ipv6].filter((x): x is string => !!x).map(canonicalIp);
  return content
    .trim()
    .split(/\s+/)
    .filter((t) => {
      const m = /^[+?~-]?ip[46]:([^/]+)(\/(32|128))?$/i.exec(t);
      return !(m && newOnes.includes(canonicalIp(m[1]!)));
    })
    .join(" ");
}

/**
 * The records as they were before a move, rebuilt from the zone as it is after the swap when nothing kept
 * them: the A/AAAA records now on a new address (on the old one again), the other members of their RRsets,
 * and the SPF records the swap gave the new address (without it). Their TTL is `ttl` when given, else the
 * current one (which after a swap is the low TTL, not the original).
 */
export function reconstructOriginals(
  current: readonly DnsRecord[],
  addresses: MoveAddresses,
  names: readonly string[] | undefined,
  ttl: number | undefined,
): DnsRecord[] {
  const a = addresses;
  const wanted = names ? new Set(names) : undefined;
  const swapped = current.filter(
    (r) => isAddr(r) && (!wanted || wanted.has(r.name)) && on(r, a.new[family(r)]) && a.old[family(r)],
  );
  const targets = swapped.map((r) => ({ ...r, content: a.old[family(r)]!, ttl: ttl ?? r.ttl }));
  // The other members of their RRsets stayed where they were.
  const siblings = siblingsOf(current, swapped).map((r) => ({ ...r, ttl: ttl ?? r.ttl }));
  const spf = discoverTargets(
    current.map((r) => (r.type === "TXT" ? { ...r, content: spfBeforeSwap(r.content, a) } : r)),
    a,
  ).spf.filter((r) => {
    const now = current.find((x) => x.id === r.id)!;
    return now.content !== r.content; // it carries the new address: the swap touched it
  });
  return [...targets, ...siblings, ...spf.map((r) => ({ ...r, ttl: ttl ?? r.ttl }))];
}
