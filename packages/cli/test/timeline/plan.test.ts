import { changesOf, type DnsRecord, type ProviderCapabilities, planTimeline, relativeLabel } from "@cutover/core";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { planSchema, type Plan } from "../../src/plan/schema.js";

const OLD = "198.51.100.10";
const NEW = "203.0.113.20";

const CAPS: Record<string, ProviderCapabilities> = {
  zonefile: { minTtl: 1, maxTtl: 2 ** 31 - 1, batch: true, proxied: false, atomicSwap: false },
  cloudflare: { minTtl: 60, maxTtl: 86400, batch: true, maxBatch: 200, proxied: true, atomicSwap: false },
  linode: {
    minTtl: 30,
    maxTtl: 2419200,
    ttlSteps: [30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200],
    batch: false,
    proxied: false,
    atomicSwap: false,
  },
};

function makePlan(o: { swapAt: Date; lowTtl: number; marginMs: number; restoreMs: number; ports?: number[] }): Plan {
  return planSchema.parse({
    name: "p",
    old: { ipv4: OLD },
    new: { ipv4: NEW },
    dns: { provider: "zonefile", zones: ["example.com"], files: { "example.com": "x" }, lowTtl: o.lowTtl },
    schedule: { swapAt: o.swapAt.toISOString(), margin: `${o.marginMs}ms`, restoreTtlAfter: `${o.restoreMs}ms` },
    relay: { ports: o.ports ?? [80] },
  });
}

const recordArb = fc.record({
  label: fc.constantFrom("@", "www", "mail", "db", "shop", "api", "ftp"),
  onOld: fc.boolean(),
  ttl: fc.oneof(fc.integer({ min: 1, max: 604800 }), fc.constantFrom(60, 300, 3600, 86400)),
  proxied: fc.boolean(),
});

const recordsArb = fc.array(recordArb, { minLength: 1, maxLength: 12 }).map((rs) =>
  rs.map((r, i): DnsRecord => ({
    id: `r${i}`,
    zone: "example.com",
    name: r.label === "@" ? "example.com" : `${r.label}.example.com`,
    type: "A",
    content: r.onOld ? OLD : "192.0.2.7",
    ttl: r.ttl,
    ...(r.proxied ? { proxied: true } : {}),
  })),
);

const NOW0 = Date.parse("2027-11-29T10:00:00Z");

describe("planTimeline (property)", () => {
  test("either refused with a safe time that is then accepted, or every rule holds", () => {
    fc.assert(
      fc.property(
        recordsArb,
        fc.constantFrom("zonefile", "cloudflare", "linode"),
        fc.integer({ min: 0, max: 30 * 86400 }), // now offset (s)
        fc.integer({ min: 1, max: 14 * 86400 }), // swap after now (s)
        fc.integer({ min: 1, max: 86400 }), // lowTtl
        fc.integer({ min: 0, max: 6 * 3600 }), // margin (s)
        fc.integer({ min: 0, max: 3 * 86400 }), // restore after (s)
        (records, providerName, nowOff, swapOff, lowTtl, marginS, restoreS) => {
          const caps = CAPS[providerName]!;
          const shaped: DnsRecord[] = caps.proxied ? records : records.map(({ proxied: _p, ...r }) => r);
          const now = new Date(NOW0 + nowOff * 1000);
          const swapAt = new Date(now.getTime() + swapOff * 1000);
          const plan = makePlan({ swapAt, lowTtl, marginMs: marginS * 1000, restoreMs: restoreS * 1000 });
          const result = planTimeline(plan, shaped, now, { capabilities: caps });
          const targets = shaped.filter((r) => r.content === OLD);
          if (!result.ok) {
            if (targets.length === 0) return; // nothing to move: refused without a time
            expect(result.earliestSafeSwap).toBeDefined();
            const retry = planTimeline(
              makePlan({
                swapAt: result.earliestSafeSwap!,
                lowTtl,
                marginMs: marginS * 1000,
                restoreMs: restoreS * 1000,
              }),
              shaped,
              now,
              { capabilities: caps },
            );
            expect(retry.ok).toBe(true);
            return;
          }
          const t = result.timeline;
          const lower = t.steps.find((s) => s.kind === "lower");
          if (lower) {
            expect(lower.at.getTime()).toBeGreaterThanOrEqual(now.getTime());
            // On time: an old TTL plus the margin before the swap. Late by less than the margin (a timer that
            // fired a little late): now, still a whole old TTL before the swap, and the plan says so.
            const late = lower.at.getTime() === now.getTime() && t.warnings.some((w) => /after its time/.test(w));
            for (const c of changesOf(lower)!.changes) {
              expect(lower.at.getTime()).toBeLessThanOrEqual(
                swapAt.getTime() - c.before.ttl * 1000 - (late ? 0 : marginS * 1000),
              );
              expect(c.after.ttl).toBeLessThan(c.before.ttl);
              expect(c.record.proxied).not.toBe(true);
            }
          }
          const swap = t.steps.find((s) => s.kind === "swap")!;
          const restore = t.steps.find((s) => s.kind === "restore")!;
          expect(swap.at.getTime()).toBe(swapAt.getTime());
          for (const r of targets) {
            const inSwap = changesOf(swap)!.changes.filter((c) => c.id === r.id);
            const inRestore = changesOf(restore)!.changes.filter((c) => c.id === r.id);
            expect(inSwap).toHaveLength(1);
            expect(inSwap[0]!.after.content).toBe(NEW);
            expect(inRestore).toHaveLength(1);
            expect(inRestore[0]!.after).toEqual({ content: NEW, ttl: r.ttl });
            // The swap keeps the lowered TTL, which the provider accepts.
            if (!r.proxied) {
              expect(inSwap[0]!.after.ttl).toBeLessThanOrEqual(Math.max(r.ttl, caps.minTtl));
              if (caps.ttlSteps && inSwap[0]!.after.ttl !== r.ttl)
                expect(caps.ttlSteps).toContain(inSwap[0]!.after.ttl);
            }
          }
          // The other members of a moving RRset stay on their address; their TTL goes down and back with it.
          const siblings = shaped.filter((r) => r.content !== OLD && targets.some((x) => x.name === r.name));
          for (const r of siblings) {
            const inSwap = changesOf(swap)!.changes.filter((c) => c.id === r.id);
            const inRestore = changesOf(restore)!.changes.filter((c) => c.id === r.id);
            expect(inSwap).toHaveLength(1);
            expect(inSwap[0]!.after.content).toBe(r.content);
            expect(inRestore[0]!.after).toEqual({ content: r.content, ttl: r.ttl });
          }
          expect(changesOf(swap)!.changes).toHaveLength(targets.length + siblings.length);
          expect(changesOf(restore)!.changes).toHaveLength(targets.length + siblings.length);
          // Steps are in time order.
          const times = t.steps.map((s) => s.at.getTime());
          expect([...times].sort((a, b) => a - b)).toEqual(times);
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe("planTimeline (examples)", () => {
  const now = new Date("2027-11-29T10:00:00Z");
  const swapAt = new Date("2027-12-01T14:00:00Z");
  const recs: DnsRecord[] = [
    { id: "1", zone: "example.com", name: "www.example.com", type: "A", content: OLD, ttl: 86400 },
    { id: "2", zone: "example.com", name: "shop.example.com", type: "A", content: OLD, ttl: 250 },
  ];

  test("the DESIGN.md timeline: lower at T-25h, preflight T-15m, handover and swap at T0, drain, restore T+24h", () => {
    const r = planTimeline(makePlan({ swapAt, lowTtl: 300, marginMs: 3_600_000, restoreMs: 86_400_000 }), recs, now, {
      capabilities: CAPS.zonefile!,
    });
    if (!r.ok) throw new Error(r.reason);
    expect(r.timeline.steps.map((s) => `${s.label} ${s.kind}`)).toEqual([
      "T-25h lower",
      "T-15m preflight",
      "T0 handover",
      "T0 swap",
      "T0 watch",
      "T+30m drain",
      "T+24h restore",
    ]);
    // shop is already below the low TTL: not lowered, still swapped and restored.
    expect(changesOf(r.timeline.steps[0]!)!.changes.map((c) => c.name)).toEqual(["www.example.com"]);
  });

  test("Linode steps: a low TTL of 250 snaps to 300 and the plan says so", () => {
    const r = planTimeline(makePlan({ swapAt, lowTtl: 250, marginMs: 0, restoreMs: 0 }), recs, now, {
      capabilities: CAPS.linode!,
    });
    if (!r.ok) throw new Error(r.reason);
    const lower = r.timeline.steps.find((s) => s.kind === "lower")!;
    expect(changesOf(lower)!.changes[0]!.after.ttl).toBe(300);
    expect(lower.notes.join()).toMatch(/TTL 250 snapped to 300 \(the provider only accepts/);
  });

  test("too late: refused with the earliest safe swap, or accepted with --accept-risk and a warning", () => {
    const late = new Date("2027-12-01T00:00:00Z");
    const plan = makePlan({ swapAt, lowTtl: 300, marginMs: 3_600_000, restoreMs: 86_400_000 });
    const r = planTimeline(plan, recs, late, { capabilities: CAPS.zonefile! });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.earliestSafeSwap?.toISOString()).toBe("2027-12-02T01:00:00.000Z");
    const risky = planTimeline(plan, recs, late, { capabilities: CAPS.zonefile!, acceptRisk: true });
    if (!risky.ok) throw new Error(risky.reason);
    expect(risky.timeline.risk?.reason).toMatch(/must land 1d/);
    expect(risky.timeline.warnings[0]).toMatch(/^accepted risk/);
  });

  test("relative labels", () => {
    expect(relativeLabel(new Date(swapAt.getTime() - 25 * 3_600_000), swapAt)).toBe("T-25h");
    expect(relativeLabel(new Date(swapAt.getTime() + 72 * 3_600_000), swapAt)).toBe("T+72h");
    expect(relativeLabel(new Date(swapAt.getTime() + 5 * 86_400_000 + 3_600_000), swapAt)).toBe("T+5d1h");
  });
});
