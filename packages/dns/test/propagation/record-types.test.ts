import { startKnotBehindUnbound, type KnotBehindUnbound, type KnotServer, type Unbound } from "@cutover/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Expectation } from "../../src/propagation/classify.js";
import { queryDns } from "../../src/propagation/query.js";
import { parseResolverList } from "../../src/propagation/servers.js";
import { createPropagationWatch, type PropagationRound } from "../../src/propagation/watch.js";
import { parseServerSpec } from "@cutover/core";

/**
 * Every record type people check when they move mail, through real servers: Knot serves the zone, one
 * Unbound has cached the old records (an hour's TTL), another asks only after the change. Each type is
 * judged against its own expectation: MX exchange and preference, the SPF text among other TXT records,
 * the CNAME target, the NS set.
 */
const OLD_SPF = "v=spf1 ip4:198.51.100.10 -all";
const NEW_SPF = "v=spf1 ip4:198.51.100.10 ip4:203.0.113.20 -all";
const zone = (serial: number, moved: boolean) => `$ORIGIN example.test.
$TTL 3600
@ 3600 IN SOA ns1.example.test. hostmaster.example.test. ${serial} 3600 600 604800 2
@ 3600 IN NS ns1.example.test.
@ 3600 IN NS ${moved ? "ns-new.example.net." : "ns-old.example.net."}
ns1 3600 IN A 127.0.0.1
${moved ? "@ 3600 IN MX 10 mx.new-host.net.\n@ 3600 IN MX 20 mx2.new-host.net." : "@ 3600 IN MX 10 mx.old-host.net."}
@ 3600 IN TXT "google-site-verification=abc123"
@ 3600 IN TXT "${moved ? NEW_SPF : OLD_SPF}"
www 3600 IN A ${moved ? "203.0.113.20" : "198.51.100.10"}
www 3600 IN AAAA ${moved ? "2001:db8::20" : "2001:db8::10"}
web 3600 IN CNAME ${moved ? "new-host.example.net." : "old-host.example.net."}
`;

const expectation: Expectation = {
  expect: ["203.0.113.20", "2001:db8::20"],
  old: ["198.51.100.10", "2001:db8::10"],
  records: {
    MX: { expect: ["10 mx.new-host.net", "20 mx2.new-host.net."], old: ["10 mx.old-host.net"] },
    TXT: { expect: [NEW_SPF], old: [OLD_SPF] },
    CNAME: { expect: ["new-host.example.net"], old: ["old-host.example.net"] },
    NS: { expect: ["ns1.example.test", "ns-new.example.net"], old: ["ns1.example.test", "ns-old.example.net"] },
  },
};
/** Which names carry which types. */
const checks = [
  { names: ["example.test"], types: ["MX", "TXT", "NS"] },
  { names: ["www.example.test"], types: ["A", "AAAA"] },
  { names: ["web.example.test"], types: ["CNAME"] },
];

let servers: KnotBehindUnbound;
let knot: KnotServer;
let stale: Unbound;
let fresh: Unbound;

beforeAll(async () => {
  servers = await startKnotBehindUnbound({ "example.test": zone(1, false) });
  ({ knot } = servers);
  [stale, fresh] = servers.resolvers as [Unbound, Unbound];
  // The stale resolver caches every old RRset; then the zone moves.
  for (const c of checks)
    for (const name of c.names)
      for (const type of c.types) {
        const r = await queryDns(parseServerSpec(stale.address), name, type);
        expect(r.response?.answers.length, `${name} ${type} primed`).toBeGreaterThan(0);
      }
  await servers.replaceZone("example.test", zone(2, true));
}, 60_000);

afterAll(async () => {
  await servers?.stop();
});

describe("propagation of A, AAAA, MX, TXT, CNAME, NS (Unbound in front of Knot)", () => {
  it("judges each type: the resolver with the cache answers OLD with its expiry, the other NEW", async () => {
    const resolvers = parseResolverList([stale.address, fresh.address], "public", {
      [stale.address]: { operator: "ISP cache", location: "Berlin" },
      [fresh.address]: { operator: "Office", location: "Lisbon" },
    });
    const rounds: PropagationRound[] = [];
    for (const c of checks) {
      const watch = createPropagationWatch({
        names: c.names,
        expect: expectation.expect,
        old: expectation.old!,
        records: expectation.records!,
        types: c.types,
        resolvers,
        queriesPerResolver: 1,
        authoritative: {
          apex: "example.test",
          parent: false,
          bootstrap: parseServerSpec(`127.0.0.1:${knot.port}`),
          nsAddresses: {
            "ns1.example.test": [`127.0.0.1:${knot.port}`],
            "ns-new.example.net": [`127.0.0.1:${knot.port}`],
            "ns-old.example.net": [`127.0.0.1:${knot.port}`],
          },
        },
      });
      rounds.push(await watch.round());
    }
    const targets = rounds.flatMap((r) => r.targets);
    expect(targets.map((t) => t.type).sort()).toEqual(
      ["A", "AAAA", "CNAME", "MX", "NS", "TXT"].flatMap((t) => [t, t]).sort(),
    );
    for (const t of targets) {
      const o = t.observations[0]!;
      if (t.server === stale.address) {
        expect(t, `${t.name} ${t.type} at the stale resolver`).toMatchObject({
          status: "OLD",
          operator: "ISP cache",
          location: "Berlin",
        });
        expect(o.ttl).toBeGreaterThan(3000);
        expect(t.expiresAt).toBeGreaterThan(Date.now() + 3000_000);
      } else {
        expect(t, `${t.name} ${t.type} at the fresh resolver: ${o.addresses.join(", ")}`).toMatchObject({
          status: "NEW",
          operator: "Office",
        });
      }
    }
    const at = (server: string, type: string) =>
      targets.find((t) => t.server === server && t.type === type)!.observations[0]!.addresses;
    expect(at(fresh.address, "MX").sort()).toEqual(["10 mx.new-host.net", "20 mx2.new-host.net"]);
    expect(at(stale.address, "MX")).toEqual(["10 mx.old-host.net"]);
    // Only the SPF record is compared; the verification string beside it is left out.
    expect(at(fresh.address, "TXT")).toEqual([NEW_SPF]);
    expect(at(stale.address, "CNAME")).toEqual(["old-host.example.net"]);
    expect(at(fresh.address, "NS").sort()).toEqual(["ns-new.example.net", "ns1.example.test"]);
    // Every authoritative server has the whole new RRset of each type.
    for (const r of rounds) expect(r.authoritative?.complete, r.authoritative?.problems.join("; ")).toBe(true);
  }, 60_000);

  it("a wrong expectation is caught: another preference is UNEXPECTED, a missing MX makes the authority incomplete", async () => {
    const watch = createPropagationWatch({
      names: ["example.test"],
      expect: [],
      records: { MX: { expect: ["5 mx.new-host.net"], old: ["10 mx.old-host.net"] } },
      resolvers: parseResolverList([fresh.address]),
      queriesPerResolver: 1,
      authoritative: {
        apex: "example.test",
        parent: false,
        bootstrap: parseServerSpec(`127.0.0.1:${knot.port}`),
        nsAddresses: {
          "ns1.example.test": [`127.0.0.1:${knot.port}`],
          "ns-new.example.net": [`127.0.0.1:${knot.port}`],
        },
      },
    });
    const r = await watch.round();
    expect(r.targets[0]?.status).toBe("UNEXPECTED");
    expect(r.authoritative?.complete).toBe(false);
    expect(r.authoritative?.problems.join("\n")).toContain(
      "example.test MX: answers 10 mx.new-host.net, 20 mx2.new-host.net, expected 5 mx.new-host.net",
    );
    // Only the exchange, any preference: the RRset still has one exchange too many for the authority.
    const loose = createPropagationWatch({
      names: ["example.test"],
      expect: [],
      records: { MX: { expect: ["mx.new-host.net", "mx2.new-host.net"] } },
      resolvers: parseResolverList([fresh.address]),
      queriesPerResolver: 1,
      authoritative: false,
    });
    expect((await loose.round()).targets[0]?.status).toBe("NEW");
  }, 30_000);
});
