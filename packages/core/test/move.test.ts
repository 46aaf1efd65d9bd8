import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalIp,
  recordChanges,
  classifyChange,
  discoverTargets,
  planLower,
  planMove,
  planRestore,
  planRollback,
  planSwap,
  reconstructOriginals,
  type Move,
  type ProviderCapabilities,
} from "../src/index.js";
import type { DnsRecord, RecordChange } from "../src/index.js";

const move = {
  old: { ipv4: "198.51.100.10", ipv6: "2001:db8::10" },
  new: { ipv4: "203.0.113.20", ipv6: "2001:db8::20" },
};
const caps: ProviderCapabilities = { minTtl: 60, maxTtl: 86400, batch: true, proxied: true, atomicSwap: false };
const low = 300;

/** A zone of random records: some on the old addresses, some beside them in their RRsets, SPF, others. */
const zoneArb: fc.Arbitrary<DnsRecord[]> = fc
  .array(
    fc.record({
      name: fc.constantFrom("example.com", "www.example.com", "mail.example.com", "app.example.com"),
      type: fc.constantFrom("A", "AAAA", "TXT", "MX"),
      pick: fc.nat(5),
      ttl: fc.constantFrom(1, 60, 300, 3600, 86400),
      proxied: fc.boolean(),
    }),
    { maxLength: 14 },
  )
  .map((rows) =>
    rows.map((r, i): DnsRecord => {
      const contents: Record<string, string[]> = {
        A: ["198.51.100.10", "198.51.100.10", "192.0.2.7", "192.0.2.8", "198.51.100.10", "192.0.2.9"],
        AAAA: ["2001:db8::10", "2001:DB8:0::10", "2001:db8::77", "2001:db8::10", "2001:db8::78", "2001:db8::10"],
        TXT: [
          "v=spf1 ip4:198.51.100.10 -all",
          "v=spf1 mx ip6:2001:db8::10 ~all",
          "v=spf1 ip4:192.0.2.7 -all",
          "google-site-verification=abc",
          "v=spf1 ip4:198.51.100.10/32 ip6:2001:db8::10 -all",
          "hello",
        ],
        MX: ["10 www.example.com", "10 mx.other.net", "20 mail.example.com", "10 www.example.com", "5 app", "5 x"],
      };
      return {
        id: `r${i}`,
        zone: "example.com",
        name: r.name,
        type: r.type,
        content: contents[r.type]![r.pick]!,
        ttl: r.ttl,
        ...(r.proxied && (r.type === "A" || r.type === "AAAA") ? { proxied: true } : {}),
      };
    }),
  );

const sameContent = (type: string, a: string, b: string) =>
  type === "A" || type === "AAAA" ? canonicalIp(a) === canonicalIp(b) : a === b;

/** What a change accepts as its starting point (what applying it does not call a conflict). */
const accepted = (c: RecordChange) =>
  [c.before.content, c.after.content, ...(c.alsoBefore ?? [])].map((x) => (c.type === "TXT" ? x : canonicalIp(x)));

/** Applies a change set to a zone the way a provider does: each change's record gets its `after`. */
function applied(zone: readonly DnsRecord[], changes: readonly RecordChange[]): DnsRecord[] {
  return zone.map((r) => {
    const c = changes.find((x) => x.id === r.id && x.type === r.type);
    return c ? { ...r, content: c.after.content, ttl: r.proxied ? r.ttl : c.after.ttl } : r;
  });
}

const steps = ["lower", "swap", "restore", "rollback"] as const;

describe("planMove: the one planner of a move", () => {
  it("plans what the step planners plan from the same discovery (the timeline keeps its change sets)", () => {
    fc.assert(
      fc.property(zoneArb, (zone) => {
        const m = planMove(zone, move, { lowTtl: low, capabilities: caps });
        const d = discoverTargets(zone, move);
        const o = { spf: d.spf, siblings: d.siblings };
        expect({ ...m }).toEqual({
          ...d,
          lower: planLower(d.targets, low, caps, o),
          swap: planSwap(d.targets, move, low, caps, o),
          restore: planRestore(d.targets, move, low, caps, o),
          rollback: planRollback(d.targets, move, low, caps, o),
        });
      }),
    );
  });

  it("every change's 'before' is the record it replaces, as it is now, where the zone is in a state the step knows", () => {
    fc.assert(
      fc.property(zoneArb, fc.constantFrom(...steps), (zone, step) => {
        const { targets } = discoverTargets(zone, move);
        fc.pre(targets.length > 0);
        const ahead = planMove(zone, move, { lowTtl: low, capabilities: caps });
        // The zone as the step finds it: lower and swap on the zone as it was; restore after the swap;
        // rollback after the lower only, after the swap, or after the restore.
        const stages: DnsRecord[][] =
          step === "lower" || step === "swap"
            ? [zone]
            : step === "restore"
              ? [applied(applied(zone, ahead.lower.changes), ahead.swap.changes)]
              : [
                  applied(zone, ahead.lower.changes),
                  applied(applied(zone, ahead.lower.changes), ahead.swap.changes),
                  applied(applied(applied(zone, ahead.lower.changes), ahead.swap.changes), ahead.restore.changes),
                ];
        for (const now of stages) {
          const m = planMove(zone, move, { lowTtl: low, capabilities: caps, current: now });
          const planned = ahead[step].changes;
          expect(m[step].changes).toHaveLength(planned.length);
          m[step].changes.forEach((c, i) => {
            const p = planned[i]!;
            const r = now.find((x) => x.id === c.id && x.type === c.type)!;
            expect(c.before).toEqual({ content: r.content, ttl: r.proxied ? p.before.ttl : r.ttl });
            expect({ ...c, before: p.before, alsoBefore: undefined }).toEqual({ ...p, alsoBefore: undefined });
            // Applying it accepts the same starting points: the conflicts it finds do not change.
            expect(new Set(accepted(c))).toEqual(new Set(accepted(p)));
            expect(classifyChange(now, c)).not.toBe("conflict");
          });
        }
      }),
    );
  });

  it("a record changed by someone else keeps the planned 'before' (applying it still calls it a conflict)", () => {
    const zone: DnsRecord[] = [
      { id: "1", zone: "example.com", name: "www.example.com", type: "A", content: "198.51.100.10", ttl: 3600 },
    ];
    const now = [{ ...zone[0]!, content: "192.0.2.99", ttl: 60 }];
    const m = planMove(zone, move, { lowTtl: low, capabilities: caps, current: now });
    expect(m.rollback.changes[0]!.before).toEqual({ content: "203.0.113.20", ttl: 300 });
    expect(classifyChange(now, m.rollback.changes[0]!)).toBe("conflict");
  });

  it("the swap, applied to the zone, points every target at the new host and keeps the siblings and other records", () => {
    fc.assert(
      fc.property(zoneArb, (zone) => {
        const m = planMove(zone, move, { lowTtl: low, capabilities: caps, current: zone });
        const after = applied(zone, m.swap.changes);
        for (const r of after) {
          const before = zone.find((x) => x.id === r.id)!;
          const isTarget = m.targets.some((t) => t.id === r.id);
          if (isTarget) expect(r.content).toBe(r.type === "A" ? move.new.ipv4 : move.new.ipv6);
          else if (before.type !== "TXT") expect(r.content).toBe(before.content);
        }
        // Nothing on an old address is left in the moved names, and a second plan finds nothing to move.
        expect(discoverTargets(after, move).targets).toEqual([]);
      }),
    );
  });

  it("recordChanges gives a record's change in each step", () => {
    const zone: DnsRecord[] = [
      { id: "1", zone: "example.com", name: "www.example.com", type: "A", content: "198.51.100.10", ttl: 86400 },
      { id: "2", zone: "example.com", name: "www.example.com", type: "A", content: "192.0.2.7", ttl: 86400 },
      { id: "3", zone: "example.com", name: "x.example.com", type: "A", content: "192.0.2.8", ttl: 86400 },
    ];
    const m: Move = planMove(zone, move, { lowTtl: low, capabilities: caps });
    const www = recordChanges(m, zone[0]!);
    expect(www.lower?.after).toEqual({ content: "198.51.100.10", ttl: 300 });
    expect(www.swap?.after).toEqual({ content: "203.0.113.20", ttl: 300 });
    expect(www.restore?.after).toEqual({ content: "203.0.113.20", ttl: 86400 });
    expect(www.rollback?.after).toEqual({ content: "198.51.100.10", ttl: 86400 });
    expect(recordChanges(m, zone[1]!).swap).toMatchObject({ sibling: true, after: { content: "192.0.2.7", ttl: 300 } });
    expect(recordChanges(m, zone[2]!)).toEqual({
      lower: undefined,
      swap: undefined,
      restore: undefined,
      rollback: undefined,
    });
  });

  it("reconstructs the originals from a swapped zone: the same move, from the old addresses", () => {
    fc.assert(
      fc.property(zoneArb, (zone) => {
        const ahead = planMove(zone, move, { lowTtl: low, capabilities: caps });
        const swapped = applied(applied(zone, ahead.lower.changes), ahead.swap.changes);
        const rebuilt = planMove(reconstructOriginals(swapped, move, undefined, undefined), move, {
          lowTtl: low,
          capabilities: caps,
        });
        const key = (r: DnsRecord) => `${r.id}|${r.type}`;
        expect(rebuilt.targets.map(key).sort()).toEqual(ahead.targets.map(key).sort());
        expect(rebuilt.spf.map((r) => `${key(r)}|${r.content}`).sort()).toEqual(
          ahead.spf.map((r) => `${key(r)}|${r.content}`).sort(),
        );
        // The rollback from the rebuilt originals puts every address back where it was.
        const back = applied(swapped, rebuilt.rollback.changes);
        for (const r of back) {
          const was = zone.find((x) => x.id === r.id)!;
          if (r.type !== "TXT") expect(sameContent(r.type, r.content, was.content)).toBe(true);
        }
      }),
    );
  });
});
