import { canonicalIp } from "../address.js";
import { snapTtl } from "./ttl.js";
import type { ChangeSet, ProviderCapabilities, RecordChange } from "../changes.js";
import type { DnsRecord } from "../records.js";

export interface MoveAddresses {
  old: { ipv4?: string | undefined; ipv6?: string | undefined };
  new: { ipv4?: string | undefined; ipv6?: string | undefined };
}

export interface Discovery {
  /** The records to move: every A/AAAA whose content is an old address (limited to `names` when given). */
  targets: DnsRecord[];
  /** Records worth knowing about that cutover does not change (MX/CNAME leading to a target). */
  info: Array<{ record: DnsRecord; why: string }>;
  /** Problems that stop a plan: a listed name without a record on the old host, an AAAA with no new IPv6. */
  problems: string[];
  /**
   * SPF TXT records that name an old address (`ip4:`/`ip6:`): their TTL is lowered with the targets, the
   * new address is added at the swap (the old one stays while mail may still leave from it), the old one
   * is removed at restore.
   */
  spf: DnsRecord[];
  /**
   * The other members of a target's RRset (same zone, name and type, another address) that stay: one
   * RRset has one TTL (RFC 2181 §5.2), so their TTL is lowered and restored with the target's, and the
   * swap keeps them beside the new address.
   */
  siblings: DnsRecord[];
}

/** Options of the plan functions: the SPF records and RRset siblings found by discovery. */
export interface ChangeOptions {
  spf?: readonly DnsRecord[];
  siblings?: readonly DnsRecord[];
}

/**
 * Finds what a move touches. With `names`, only those owner names are targets and each must have at
 * least one A/AAAA on an old address.
 */
export function discoverTargets(
  records: readonly DnsRecord[],
  addresses: MoveAddresses,
  names?: readonly string[],
): Discovery {
  const oldV4 = addresses.old.ipv4 ? canonicalIp(addresses.old.ipv4) : undefined;
  const oldV6 = addresses.old.ipv6 ? canonicalIp(addresses.old.ipv6) : undefined;
  const wanted = names ? new Set(names.map((n) => n.toLowerCase().replace(/\.$/, ""))) : undefined;
  const targets: DnsRecord[] = [];
  const problems: string[] = [];
  for (const r of records) {
    if (wanted && !wanted.has(r.name)) continue;
    if (r.type === "A" && oldV4 !== undefined && canonicalIp(r.content) === oldV4) targets.push(r);
    else if (r.type === "AAAA" && oldV6 !== undefined && canonicalIp(r.content) === oldV6) {
      if (!addresses.new.ipv6) {
        problems.push(
          `${r.name} AAAA ${r.content} points at the old host but new.ipv6 is not set; add new.ipv6, or remove the AAAA record before the move`,
        );
      } else targets.push(r);
    }
  }
  if (wanted) {
    for (const n of wanted) {
      if (!targets.some((t) => t.name === n) && !problems.some((p) => p.startsWith(`${n} `))) {
        problems.push(`${n} has no A/AAAA record on the old host's address; check dns.records or the zone`);
      }
    }
  }
  const targetNames = new Set(targets.map((t) => t.name));
  const info: Discovery["info"] = [];
  for (const r of records) {
    if (r.type === "CNAME" && targetNames.has(r.content.toLowerCase().replace(/\.$/, ""))) {
      info.push({ record: r, why: `CNAME to ${r.content}, which moves: follows automatically` });
    } else if (r.type === "MX") {
      const host = r.content.split(/\s+/)[1]?.toLowerCase().replace(/\.$/, "");
      if (host && targetNames.has(host))
        info.push({ record: r, why: `mail for ${r.name} goes to ${host}, which moves` });
    }
  }
  const spf = records.filter((r) => isSpf(r) && spfMentions(r.content, addresses.old).length > 0);
  for (const r of spf) {
    info.push({
      record: r,
      why: `SPF names the old host: the new address is added at the swap, the old removed at restore`,
    });
  }
  return { targets, info, problems, spf, siblings: siblingsOf(records, targets) };
}

/** The records that share an RRset (zone, name, type) with a target without being targets themselves. */
export function siblingsOf(records: readonly DnsRecord[], targets: readonly DnsRecord[]): DnsRecord[] {
  const rrsets = new Set(targets.map((t) => `${t.zone}|${t.name}|${t.type}`));
  return records.filter((r) => rrsets.has(`${r.zone}|${r.name}|${r.type}`) && !targets.includes(r));
}

function isSpf(r: DnsRecord): boolean {
  return r.type === "TXT" && /^v=spf1(\s|$)/i.test(r.content.trim());
}

/** The `ip4:`/`ip6:` terms of an SPF text naming one of the given addresses (a /32 or /128 counts). */
function spfMentions(content: string, addrs: MoveAddresses["old"]): string[] {
  const wanted = [addrs.ipv4, addrs.ipv6].filter((a): a is string => !!a).map(canonicalIp);
  return content.split(/\s+/).filter((term) => {
    const m = /^[+?~-]?ip([46]):([^/]+)(\/(32|128))?$/i.exec(term);
    return m !== null && wanted.includes(canonicalIp(m[2]!));
  });
}

/** SPF text with the new address added after each old one it names (idempotent). */
export function spfWithNew(content: string, addresses: MoveAddresses): string {
  const terms = content.trim().split(/\s+/);
  const out: string[] = [];
  for (const term of terms) {
    out.push(term);
    const m = /^([+?~-]?)ip([46]):([^/]+)(\/(32|128))?$/i.exec(term);
    if (!m) continue;
    const v = m[2] === "4" ? "ipv4" : "ipv6";
    const oldA = addresses.old[v];
    const newA = addresses.new[v];
    if (!oldA || !newA || canonicalIp(m[3]!) !== canonicalIp(oldA)) continue;
    if (spfMentions(content, { [v]: newA }).length > 0) continue;
    out.push(`${m[1]}ip${m[2]}:${newA}`);
  }
  return out.join(" ");
}

/** SPF text without the old addresses (when the new one is there). */
export function spfWithoutOld(content: string, addresses: MoveAddresses): string {
  return content
    .trim()
    .split(/\s+/)
    .filter((term) => {
      const m = /^[+?~-]?ip([46]):([^/]+)(\/(32|128))?$/i.exec(term);
      if (!m) return true;
      const v = m[1] === "4" ? "ipv4" : "ipv6";
      const oldA = addresses.old[v];
      return !(oldA && addresses.new[v] && canonicalIp(m[2]!) === canonicalIp(oldA));
    })
    .join(" ");
}

function newAddressFor(record: DnsRecord, addresses: MoveAddresses): string {
  const next = record.type === "AAAA" ? addresses.new.ipv6 : addresses.new.ipv4;
  if (!next) throw new Error(`no new address for ${record.type} ${record.name}`);
  return next;
}

function change(
  record: DnsRecord,
  before: RecordChange["before"],
  after: RecordChange["after"],
  notes?: string[],
): RecordChange {
  const c: RecordChange = {
    zone: record.zone,
    id: record.id,
    name: record.name,
    type: record.type,
    before,
    after,
    record,
  };
  if (notes && notes.length > 0) c.notes = notes;
  return c;
}

const STAYS = "stays: shares its RRset with a moving record (one TTL per RRset)";

/** A sibling's change: its content stays, its TTL goes from `from` to `to`. */
function siblingChange(r: DnsRecord, from: number, to: number): RecordChange {
  const c = change(r, { content: r.content, ttl: from }, { content: r.content, ttl: to }, [STAYS]);
  c.sibling = true;
  return c;
}

/** The TTL a target has while the move is on: the low TTL (snapped) when its own is higher. */
export function movingTtl(
  record: DnsRecord,
  lowTtl: number,
  caps: ProviderCapabilities,
): { ttl: number; note?: string } {
  if (record.proxied) return { ttl: record.ttl };
  const low = snapTtl(lowTtl, caps);
  return record.ttl > low.ttl ? low : { ttl: record.ttl };
}

/** Lower the TTL of every target above the low TTL. Proxied records have none to lower. */
export function planLower(
  targets: readonly DnsRecord[],
  lowTtl: number,
  caps: ProviderCapabilities,
  options: ChangeOptions = {},
): ChangeSet {
  const changes: RecordChange[] = [];
  for (const r of [...targets, ...(options.spf ?? [])]) {
    if (r.proxied) continue;
    const t = movingTtl(r, lowTtl, caps);
    if (t.ttl < r.ttl) {
      changes.push(
        change(
          r,
          { content: r.content, ttl: r.ttl },
          { content: r.content, ttl: t.ttl },
          t.note ? [t.note] : undefined,
        ),
      );
    }
  }
  for (const r of options.siblings ?? []) {
    if (r.proxied) continue;
    const t = movingTtl(r, lowTtl, caps);
    if (t.ttl < r.ttl) changes.push(siblingChange(r, r.ttl, t.ttl));
  }
  return { step: "lower", changes };
}

/** Point every target at the new host, keeping the low TTL. */
export function planSwap(
  targets: readonly DnsRecord[],
  addresses: MoveAddresses,
  lowTtl: number,
  caps: ProviderCapabilities,
  options: ChangeOptions = {},
): ChangeSet {
  const spf = (options.spf ?? []).map((r) => {
    const t = movingTtl(r, lowTtl, caps);
    return change(r, { content: r.content, ttl: t.ttl }, { content: spfWithNew(r.content, addresses), ttl: t.ttl }, [
      "SPF: new address added; the old one stays until restore",
    ]);
  });
  return {
    step: "swap",
    changes: [
      ...targets.map((r) => {
        const t = movingTtl(r, lowTtl, caps);
        const notes = r.proxied ? ["proxied: clients see the change at once; no TTL to wait for"] : undefined;
        return change(
          r,
          { content: r.content, ttl: t.ttl },
          { content: newAddressFor(r, addresses), ttl: t.ttl },
          notes,
        );
      }),
      ...spf,
      // The staying members are kept beside the new address, at the low TTL until the restore.
      ...(options.siblings ?? []).map((r) => {
        const t = movingTtl(r, lowTtl, caps).ttl;
        return siblingChange(r, t, t);
      }),
    ],
  };
}

/** Give every target its original TTL back, on the new address. */
export function planRestore(
  targets: readonly DnsRecord[],
  addresses: MoveAddresses,
  lowTtl: number,
  caps: ProviderCapabilities,
  options: ChangeOptions = {},
): ChangeSet {
  const spf = (options.spf ?? []).map((r) => {
    const swapped = spfWithNew(r.content, addresses);
    return change(
      r,
      { content: swapped, ttl: movingTtl(r, lowTtl, caps).ttl },
      { content: spfWithoutOld(swapped, addresses), ttl: r.ttl },
      ["SPF: old address removed"],
    );
  });
  return {
    step: "restore",
    changes: [
      ...targets.map((r) => {
        const content = newAddressFor(r, addresses);
        return change(r, { content, ttl: movingTtl(r, lowTtl, caps).ttl }, { content, ttl: r.ttl });
      }),
      ...spf,
      ...(options.siblings ?? []).map((r) => siblingChange(r, movingTtl(r, lowTtl, caps).ttl, r.ttl)),
    ],
  };
}

/** Put every target back exactly as it was: old address, original TTL. */
export function planRollback(
  targets: readonly DnsRecord[],
  addresses: MoveAddresses,
  lowTtl: number,
  caps: ProviderCapabilities,
  options: ChangeOptions = {},
): ChangeSet {
  const spf = (options.spf ?? []).map((r) => {
    const swapped = spfWithNew(r.content, addresses);
    const c = change(r, { content: swapped, ttl: movingTtl(r, lowTtl, caps).ttl }, { content: r.content, ttl: r.ttl });
    // After a restore the SPF record no longer names the old address: roll back from there too.
    const restored = spfWithoutOld(swapped, addresses);
    if (restored !== swapped) c.alsoBefore = [restored];
    return c;
  });
  return {
    step: "rollback",
    changes: [
      ...targets.map((r) =>
        change(
          r,
          { content: newAddressFor(r, addresses), ttl: movingTtl(r, lowTtl, caps).ttl },
          { content: r.content, ttl: r.ttl },
        ),
      ),
      ...spf,
      ...(options.siblings ?? []).map((r) => siblingChange(r, movingTtl(r, lowTtl, caps).ttl, r.ttl)),
    ],
  };
}

export interface ChangeLimits {
  /** Most records one step may change without --force (plan `dns.maxChanges`, default 20). */
  maxChanges: number;
  /** Largest share of a zone one step may change without --force (default 0.3, like octoDNS). */
  maxShare?: number;
  /** The share rule applies only to zones with more records than this (default 10, like octoDNS). */
  minZoneSize?: number;
}

/**
 * Why a change set is too large to apply without --force: more records than `maxChanges`, or more than
 * 30 % of a zone that has more than 10 records. Empty when it is within bounds.
 */
export function checkChangeLimits(
  set: ChangeSet,
  zoneSizes: Readonly<Record<string, number>>,
  limits: ChangeLimits,
): string[] {
  const problems: string[] = [];
  const n = set.changes.length;
  if (n > limits.maxChanges) {
    problems.push(`${set.step} changes ${n} records, more than dns.maxChanges (${limits.maxChanges})`);
  }
  const share = limits.maxShare ?? 0.3;
  const minSize = limits.minZoneSize ?? 10;
  for (const zone of new Set(set.changes.map((c) => c.zone))) {
    const size = zoneSizes[zone] ?? 0;
    const k = set.changes.filter((c) => c.zone === zone).length;
    if (size > minSize && k / size > share) {
      problems.push(
        `${set.step} changes ${k} of ${size} records in ${zone} (${Math.round((100 * k) / size)} %, more than ${Math.round(share * 100)} %)`,
      );
    }
  }
  return problems;
}
