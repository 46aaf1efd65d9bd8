import { describe, expect, it } from "vitest";
import {
  checkChangeLimits,
  discoverTargets,
  planLower,
  planRestore,
  planSwap,
  spfWithNew,
  spfWithoutOld,
  type ProviderCapabilities,
} from "../src/index.js";
import type { DnsRecord } from "../src/index.js";

const move = {
  old: { ipv4: "198.51.100.10", ipv6: "2001:db8::10" },
  new: { ipv4: "203.0.113.20", ipv6: "2001:db8::20" },
};
const caps: ProviderCapabilities = { minTtl: 60, maxTtl: 86400, batch: true, proxied: false, atomicSwap: false };
const rec = (name: string, type: string, content: string, ttl = 3600): DnsRecord => ({
  id: `${name}-${type}`,
  zone: "example.com",
  name,
  type,
  content,
  ttl,
});

describe("SPF records naming the old host", () => {
  it("finds ip4:/ip6: mentions (with /32 or /128) and ignores other TXT and other addresses", () => {
    const d = discoverTargets(
      [
        rec("example.com", "TXT", "v=spf1 mx ip4:198.51.100.10/32 -all"),
        rec("a.example.com", "TXT", "v=spf1 ip4:198.51.100.0/24 -all"),
        rec("b.example.com", "TXT", "google-site-verification=abc ip4:198.51.100.10"),
        rec("c.example.com", "TXT", "v=spf1 ip6:2001:DB8:0::10 ~all"),
      ],
      move,
    );
    expect(d.spf.map((r) => r.name)).toEqual(["example.com", "c.example.com"]);
  });

  it("adds the new address next to the old one at the swap (once) and removes the old at restore", () => {
    const text = "v=spf1 mx ip4:198.51.100.10 ~ip6:2001:db8::10 include:_spf.example.net -all";
    const swapped = spfWithNew(text, move);
    expect(swapped).toBe(
      "v=spf1 mx ip4:198.51.100.10 ip4:203.0.113.20 ~ip6:2001:db8::10 ~ip6:2001:db8::20 include:_spf.example.net -all",
    );
    expect(spfWithNew(swapped, move)).toBe(swapped);
    expect(spfWithoutOld(swapped, move)).toBe(
      "v=spf1 mx ip4:203.0.113.20 ~ip6:2001:db8::20 include:_spf.example.net -all",
    );
  });

  it("lowers the SPF TTL with the targets, changes it at swap and restores its TTL", () => {
    const spf = [rec("example.com", "TXT", "v=spf1 ip4:198.51.100.10 -all", 86400)];
    const targets = [rec("example.com", "A", "198.51.100.10", 86400)];
    expect(planLower(targets, 300, caps, { spf }).changes.map((c) => `${c.type} ${c.after.ttl}`)).toEqual([
      "A 300",
      "TXT 300",
    ]);
    const swap = planSwap(targets, move, 300, caps, { spf }).changes[1]!;
    expect(swap.after).toEqual({ content: "v=spf1 ip4:198.51.100.10 ip4:203.0.113.20 -all", ttl: 300 });
    const restore = planRestore(targets, move, 300, caps, { spf }).changes[1]!;
    expect(restore.before.content).toBe(swap.after.content);
    expect(restore.after).toEqual({ content: "v=spf1 ip4:203.0.113.20 -all", ttl: 86400 });
  });
});

describe("change limits", () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => rec(`h${i}.example.com`, "A", "198.51.100.10"));

  it("passes a small change, refuses more than maxChanges", () => {
    const small = planSwap(many(5), move, 300, caps);
    expect(checkChangeLimits(small, { "example.com": 100 }, { maxChanges: 20 })).toEqual([]);
    const big = planSwap(many(21), move, 300, caps);
    expect(checkChangeLimits(big, { "example.com": 1000 }, { maxChanges: 20 })).toEqual([
      "swap changes 21 records, more than dns.maxChanges (20)",
    ]);
  });

  it("refuses more than 30 % of a zone with more than 10 records, not of a tiny zone", () => {
    const set = planSwap(many(7), move, 300, caps);
    expect(checkChangeLimits(set, { "example.com": 20 }, { maxChanges: 50 })).toEqual([
      "swap changes 7 of 20 records in example.com (35 %, more than 30 %)",
    ]);
    expect(checkChangeLimits(set, { "example.com": 8 }, { maxChanges: 50 })).toEqual([]);
  });
});
