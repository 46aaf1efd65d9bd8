import { canonicalIp } from "./address.js";
import type { ChangeSet, ProviderCapabilities, RecordChange } from "./providers/types.js";
import type { DnsRecord } from "./records.js";
import { snapTtl } from "./ttl.js";

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
  return { targets, info, problems };
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
export function planLower(targets: readonly DnsRecord[], lowTtl: number, caps: ProviderCapabilities): ChangeSet {
  const changes: RecordChange[] = [];
  for (const r of targets) {
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
  return { step: "lower", changes };
}

/** Point every target at the new host, keeping the low TTL. */
export function planSwap(
  targets: readonly DnsRecord[],
  addresses: MoveAddresses,
  lowTtl: number,
  caps: ProviderCapabilities,
): ChangeSet {
  return {
    step: "swap",
    changes: targets.map((r) => {
      const t = movingTtl(r, lowTtl, caps);
      const notes = r.proxied ? ["proxied: clients see the change at once; no TTL to wait for"] : undefined;
      return change(r, { content: r.content, ttl: t.ttl }, { content: newAddressFor(r, addresses), ttl: t.ttl }, notes);
    }),
  };
}

/** Give every target its original TTL back, on the new address. */
export function planRestore(
  targets: readonly DnsRecord[],
  addresses: MoveAddresses,
  lowTtl: number,
  caps: ProviderCapabilities,
): ChangeSet {
  return {
    step: "restore",
    changes: targets.map((r) => {
      const content = newAddressFor(r, addresses);
      return change(r, { content, ttl: movingTtl(r, lowTtl, caps).ttl }, { content, ttl: r.ttl });
    }),
  };
}

/** Put every target back exactly as it was: old address, original TTL. */
export function planRollback(
  targets: readonly DnsRecord[],
  addresses: MoveAddresses,
  lowTtl: number,
  caps: ProviderCapabilities,
): ChangeSet {
  return {
    step: "rollback",
    changes: targets.map((r) =>
      change(
        r,
        { content: newAddressFor(r, addresses), ttl: movingTtl(r, lowTtl, caps).ttl },
        { content: r.content, ttl: r.ttl },
      ),
    ),
  };
}
