import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyChangeSet, type DnsProvider } from "../../src/index.js";
import type { DnsRecord } from "@cutover/core";
import { discoverTargets, planLower, planRestore, planRollback, planSwap, type MoveAddresses } from "@cutover/core";

/** The zone every provider is seeded with (relative names, "@" = apex). */
export const CONTRACT_ZONE = "example.com";
export interface SeedRecord {
  name: string;
  type: string;
  content: string;
  ttl: number;
}
export const CONTRACT_SEED: readonly SeedRecord[] = [
  { name: "@", type: "A", content: "198.51.100.10", ttl: 3600 },
  { name: "www", type: "A", content: "198.51.100.10", ttl: 86400 },
  { name: "www", type: "AAAA", content: "2001:db8::10", ttl: 86400 },
  { name: "mail", type: "A", content: "198.51.100.10", ttl: 3600 },
  { name: "other", type: "A", content: "192.0.2.7", ttl: 3600 },
  { name: "@", type: "MX", content: "10 mail.example.com", ttl: 3600 },
  { name: "@", type: "TXT", content: "v=spf1 ip4:198.51.100.10 ip6:2001:db8::10 -all", ttl: 3600 },
  { name: "ftp", type: "CNAME", content: "www.example.com", ttl: 3600 },
  // One RRset of two addresses: .10 moves, .11 (another server) stays, with the RRset's one TTL.
  { name: "pool", type: "A", content: "198.51.100.10", ttl: 7200 },
  { name: "pool", type: "A", content: "198.51.100.11", ttl: 7200 },
];
export const CONTRACT_MOVE: MoveAddresses = {
  old: { ipv4: "198.51.100.10", ipv6: "2001:db8::10" },
  new: { ipv4: "203.0.113.20", ipv6: "2001:db8::20" },
};

export interface ProviderHarness {
  provider: DnsProvider;
  close(): Promise<void>;
}

const fq = (n: string) => (n === "@" ? CONTRACT_ZONE : `${n}.${CONTRACT_ZONE}`);
const pick = (records: DnsRecord[], name: string, type: string) =>
  records.filter((r) => r.name === fq(name) && r.type === type);

/**
 * The contract every provider meets, run against each (cloudflare/linode on their fakes, rfc2136 on a real
 * Knot, zonefile on files a real Knot serves). `setup` gets a provider over a zone seeded with
 * CONTRACT_SEED; the tests run in order: lower, swap, rerun, restore, rollback, conflict.
 */
export function testProvider(name: string, setup: () => Promise<ProviderHarness>): void {
  describe(`provider contract: ${name}`, () => {
    let h: ProviderHarness;
    let originals: DnsRecord[] = [];
    let spf: DnsRecord[] = [];
    let siblings: DnsRecord[] = [];
    /** The pool RRset as served: content and TTL of each member, sorted. */
    const pool = async () =>
      pick(await read(), "pool", "A")
        .map((r) => `${r.content} ${r.ttl}`)
        .sort();
    const spfText = async () => pick(await read(), "@", "TXT")[0]!.content;
    const lowTtl = 300;
    beforeAll(async () => {
      h = await setup();
    }, 60_000);
    afterAll(async () => {
      await h?.close();
    });
    const read = () => h.provider.listRecords(CONTRACT_ZONE);

    it("lists the zone and every record with absolute names, upper-case types and effective TTLs", async () => {
      const zones = await h.provider.listZones();
      expect(zones.map((z) => z.name)).toContain(CONTRACT_ZONE);
      const records = await read();
      for (const s of CONTRACT_SEED) {
        const found = pick(records, s.name, s.type).filter((r) => r.content.replace(/\.$/, "") === s.content);
        expect(found, `${s.name} ${s.type} ${s.content}`).toHaveLength(1);
        expect(found[0]!.ttl).toBe(s.ttl);
        expect(found[0]!.zone).toBe(CONTRACT_ZONE);
        expect(found[0]!.id).not.toBe("");
      }
      expect(pick(records, "pool", "A")).toHaveLength(2);
    });

    it("discovers the A/AAAA targets on the old addresses and what else points at them", async () => {
      const d = discoverTargets(await read(), CONTRACT_MOVE);
      originals = d.targets;
      spf = d.spf;
      siblings = d.siblings;
      expect(spf.map((r) => r.name)).toEqual(["example.com"]);
      expect(d.targets.map((t) => `${t.name} ${t.type}`).sort()).toEqual(
        [
          "example.com A",
          "mail.example.com A",
          "pool.example.com A",
          "www.example.com A",
          "www.example.com AAAA",
        ].sort(),
      );
      expect(siblings.map((r) => `${r.name} ${r.type} ${r.content} ${r.ttl}`)).toEqual([
        "pool.example.com A 198.51.100.11 7200",
      ]);
      expect(d.problems).toEqual([]);
      expect(d.info.map((i) => i.record.type).sort()).toEqual(["CNAME", "MX", "TXT"]);
    });

    it("lowers the TTLs and reads them back, touching nothing else", async () => {
      const set = planLower(originals, lowTtl, h.provider.capabilities, { spf, siblings });
      expect(set.changes).toHaveLength(7);
      const report = await applyChangeSet(h.provider, set);
      expect(report.outcomes.map((o) => o.status)).toEqual(Array(7).fill("applied"));
      expect(report.complete).toBe(true);
      // Every member of the RRset, the staying one too: one TTL per RRset (RFC 2181 §5.2).
      expect(await pool()).toEqual([`198.51.100.10 ${lowTtl}`, `198.51.100.11 ${lowTtl}`]);
      const records = await read();
      for (const t of originals) expect(records.find((r) => r.name === t.name && r.type === t.type)!.ttl).toBe(lowTtl);
      expect(pick(records, "other", "A")[0]!.ttl).toBe(3600);
      expect(pick(records, "@", "MX")[0]!.ttl).toBe(3600);
    });

    it("swaps every target to the new address at the low TTL", async () => {
      const report = await applyChangeSet(
        h.provider,
        planSwap(originals, CONTRACT_MOVE, lowTtl, h.provider.capabilities, { spf, siblings }),
      );
      expect(report.complete).toBe(true);
      // Only the moving member is replaced; the staying one is kept at the low TTL until the restore.
      expect(await pool()).toEqual([`198.51.100.11 ${lowTtl}`, `203.0.113.20 ${lowTtl}`]);
      expect(await spfText()).toBe("v=spf1 ip4:198.51.100.10 ip4:203.0.113.20 ip6:2001:db8::10 ip6:2001:db8::20 -all");
      const records = await read();
      expect(pick(records, "@", "A")[0]).toMatchObject({ content: "203.0.113.20", ttl: lowTtl });
      expect(pick(records, "www", "A")[0]).toMatchObject({ content: "203.0.113.20", ttl: lowTtl });
      expect(pick(records, "www", "AAAA")[0]!.content).toMatch(/^2001:db8::20$/);
      expect(pick(records, "other", "A")[0]!.content).toBe("192.0.2.7");
    });

    it("does nothing on a rerun: every change is already in place", async () => {
      const report = await applyChangeSet(
        h.provider,
        planSwap(originals, CONTRACT_MOVE, lowTtl, h.provider.capabilities, { spf, siblings }),
      );
      expect(report.outcomes.map((o) => o.status)).toEqual(Array(7).fill("already"));
    });

    it("restores the original TTLs on the new addresses", async () => {
      const report = await applyChangeSet(
        h.provider,
        planRestore(originals, CONTRACT_MOVE, lowTtl, h.provider.capabilities, { spf, siblings }),
      );
      expect(report.complete).toBe(true);
      expect(await pool()).toEqual(["198.51.100.11 7200", "203.0.113.20 7200"]);
      expect(await spfText()).toBe("v=spf1 ip4:203.0.113.20 ip6:2001:db8::20 -all");
      expect(pick(await read(), "@", "TXT")[0]!.ttl).toBe(3600);
      const records = await read();
      expect(pick(records, "www", "A")[0]).toMatchObject({ content: "203.0.113.20", ttl: 86400 });
      expect(pick(records, "@", "A")[0]).toMatchObject({ content: "203.0.113.20", ttl: 3600 });
    });

    it("rolls back to the old addresses and TTLs", async () => {
      const set = planRollback(originals, CONTRACT_MOVE, lowTtl, h.provider.capabilities, { spf, siblings });
      // After a restore the records carry their original TTL: roll back from there.
      for (const c of set.changes) c.before.ttl = c.after.ttl;
      const report = await applyChangeSet(h.provider, set);
      expect(report.complete).toBe(true);
      const records = await read();
      for (const t of originals) {
        const r = records.find(
          (x) => x.name === t.name && x.type === t.type && x.content.toLowerCase() === t.content.toLowerCase(),
        );
        expect(r, `${t.name} ${t.type} ${t.content}`).toBeDefined();
        expect(r!.ttl).toBe(t.ttl);
      }
      expect(await spfText()).toBe(CONTRACT_SEED[6]!.content);
      expect(await pool()).toEqual(["198.51.100.10 7200", "198.51.100.11 7200"]);
    });

    it("leaves a record someone else changed alone and reports the conflict", async () => {
      const mail = pick(await read(), "mail", "A")[0]!;
      await h.provider.applyChanges(CONTRACT_ZONE, [
        {
          zone: CONTRACT_ZONE,
          id: mail.id,
          name: mail.name,
          type: "A",
          before: { content: mail.content, ttl: mail.ttl },
          after: { content: "192.0.2.99", ttl: mail.ttl },
          record: mail,
          current: mail,
        },
      ]);
      // With the staying member of pool's RRset: a zone file with two TTLs in one RRset is served with one.
      const report = await applyChangeSet(
        h.provider,
        planSwap(originals, CONTRACT_MOVE, lowTtl, h.provider.capabilities, { siblings }),
      );
      const byName = new Map(report.outcomes.map((o) => [`${o.change.name} ${o.change.type}`, o]));
      expect(byName.get("mail.example.com A")).toMatchObject({ status: "conflict", found: { content: "192.0.2.99" } });
      expect(byName.get("www.example.com A")!.status).toBe("applied");
      expect(report.complete).toBe(false);
      expect(pick(await read(), "mail", "A")[0]!.content).toBe("192.0.2.99");
    });
  });
}
