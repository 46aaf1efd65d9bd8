import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkAuthoritative } from "../../src/propagation/authoritative.js";
import { queryDns } from "../../src/propagation/query.js";
import { createPropagationWatch, type PropagationRound } from "../../src/propagation/watch.js";
import { startAuthoritativeServer, type AuthoritativeServer } from "../../src/serve/server.js";
import { startUnbound, type Unbound } from "@cutover/testkit";
import { parseServerSpec } from "@cutover/core";

const OLD = "198.51.100.10";
const NEW = "203.0.113.20";
const zone = (serial: number, addr: string, ttl = 3) => `$ORIGIN example.test.
$TTL 3
@ IN SOA ns1.example.test. hostmaster.example.test. ${serial} 3600 600 86400 2
@ IN NS ns1.example.test.
@ IN NS ns2.example.test.
ns1 IN A 127.0.0.1
ns2 IN A 127.0.0.1
www ${ttl} IN A ${addr}
fresh IN TXT "only a TXT here"
big IN TXT ${Array.from({ length: 8 }, (_, i) => `"${String(i).repeat(250)}"`).join(" ")}
`;
const parentZone = `$ORIGIN test.
$TTL 300
@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
@ IN NS ns.test.
ns IN A 127.0.0.1
example IN NS ns1.example.test.
example IN NS ns2.example.test.
ns1.example IN A 127.0.0.1
ns2.example IN A 127.0.0.1
`;

let dir: string;
let ns1: AuthoritativeServer;
let ns2: AuthoritativeServer;
let parent: AuthoritativeServer;
let unbound: Unbound;
const file1 = () => join(dir, "ns1", "example.test.zone");
const file2 = () => join(dir, "ns2", "example.test.zone");

async function setZones(serial1: number, addr1: string, serial2: number, addr2: string) {
  await writeFile(file1(), zone(serial1, addr1));
  await writeFile(file2(), zone(serial2, addr2));
  await ns1.reload();
  await ns2.reload();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cutover-prop-"));
  const { mkdir } = await import("node:fs/promises");
  await mkdir(join(dir, "ns1"));
  await mkdir(join(dir, "ns2"));
  await writeFile(file1(), zone(1, OLD));
  await writeFile(file2(), zone(1, OLD));
  await writeFile(join(dir, "test.zone"), parentZone);
  ns1 = await startAuthoritativeServer({ zoneFiles: [file1()], listen: "127.0.0.1:0", watch: false });
  ns2 = await startAuthoritativeServer({ zoneFiles: [file2()], listen: "127.0.0.1:0", watch: false });
  parent = await startAuthoritativeServer({ zoneFiles: [join(dir, "test.zone")], listen: "127.0.0.1:0", watch: false });
  unbound = await startUnbound(dir, { "example.test": [ns1.address] });
}, 30_000);

afterAll(async () => {
  await unbound?.stop();
  await Promise.all([ns1?.close(), ns2?.close(), parent?.close()]);
  await rm(dir, { recursive: true, force: true });
});

const authOptions = () => ({
  bootstrap: parseServerSpec(ns1.address),
  parent: [parseServerSpec(parent.address)],
  nsAddresses: { "ns1.example.test": [ns1.address], "ns2.example.test": [ns2.address] },
});

describe("authoritative check against real servers", () => {
  it("names the server updated late, with its address and the serial difference", async () => {
    await setZones(2, NEW, 1, OLD);
    const check = await checkAuthoritative({
      names: ["www.example.test"],
      expectation: { expect: [NEW], old: [OLD] },
      ...authOptions(),
    });
    const z = check.zones[0]!;
    expect(z.apex).toBe("example.test");
    expect(z.parentNs).toEqual(["ns1.example.test", "ns2.example.test"]);
    expect(z.childNs).toEqual(["ns1.example.test", "ns2.example.test"]);
    expect(z.maxSerial).toBe(2);
    expect(check.complete).toBe(false);
    const late = z.servers.find((s) => s.address === ns2.address)!;
    expect(late).toMatchObject({ ns: "ns2.example.test", serial: 1, ok: false });
    expect(check.problems.join("\n")).toContain(
      `ns2.example.test ${ns2.address} (serial 1): lagging: serial 1, 1 behind 2`,
    );
    expect(z.servers.find((s) => s.address === ns1.address)?.ok).toBe(true);

    await setZones(2, NEW, 2, NEW);
    const again = await checkAuthoritative({
      names: ["www.example.test"],
      expectation: { expect: [NEW], old: [OLD] },
      ...authOptions(),
    });
    expect(again.complete).toBe(true);
    expect(again.problems).toEqual([]);
  });

  it("reports a server that answers without AA or with the wrong RRset", async () => {
    await setZones(3, NEW, 3, "192.0.2.99");
    const check = await checkAuthoritative({
      names: ["www.example.test"],
      expectation: { expect: [NEW], old: [OLD] },
      ...authOptions(),
      parent: false,
    });
    expect(check.problems.join("\n")).toMatch(/ns2\.example\.test .*answers 192\.0\.2\.99, expected 203\.0\.113\.20/);
    const refusing = await checkAuthoritative({
      names: ["www.example.test"],
      expectation: { expect: [NEW] },
      apex: "example.test",
      parent: false,
      nsAddresses: { "ns9.example.test": [parent.address] },
      bootstrap: parseServerSpec(parent.address),
    });
    expect(refusing.complete).toBe(false);
  });
});

describe("Unbound in front of the authority", () => {
  it("sees OLD, then NEW when the cache expires, within 1 s of the predicted expiry", async () => {
    await setZones(10, OLD, 10, OLD);
    const resolver = { server: parseServerSpec(unbound.address), name: "unbound", group: "public" };
    // Prime the cache with the old answer, then change the authority.
    const primed = await queryDns(resolver.server, "www.example.test", "A");
    expect(primed.response?.answers[0]?.data).toBe(OLD);
    await setZones(11, NEW, 11, NEW);

    const rounds: PropagationRound[] = [];
    const watch = createPropagationWatch({
      names: ["www.example.test"],
      expect: [NEW],
      old: [OLD],
      resolvers: [resolver],
      authoritative: authOptions(),
      intervalMs: 200,
      oldTtl: 3,
    });
    const report = await watch.run({ timeoutMs: 10_000, onRound: (r) => void rounds.push(r) });
    expect(report.propagated).toBe(true);
    const first = rounds[0]!;
    expect(first.authoritative?.complete).toBe(true);
    expect(first.targets[0]?.status).toBe("OLD");
    expect(first.estimate.expectedBy).toBeGreaterThan(first.startedAt);
    const flipIndex = rounds.findIndex((r) => r.targets[0]?.status === "NEW");
    const flip = rounds[flipIndex]!;
    // The estimate shown in the last round before the flip.
    const predicted = rounds[flipIndex - 1]!.estimate.expectedBy!;
    const observedFlip = flip.targets[0]!.observations[0]!.at;
    if (process.env.SHOW_FLIP) console.log("flip-predicted ms", observedFlip - predicted);
    expect(Math.abs(observedFlip - predicted)).toBeLessThanOrEqual(1000);
    // The bound: authoritative completion + the old TTL.
    expect(first.estimate.bound).toBe(first.estimate.authoritativeCompleteAt! + 3000);
    expect(rounds.at(-1)!.targets[0]).toMatchObject({ status: "NEW", propagated: true, newStreak: 2 });
  }, 20_000);

  it("retries over TCP when the resolver's answer is truncated", async () => {
    const r = await queryDns(parseServerSpec(unbound.address), "big.example.test", "TXT");
    expect(r.truncatedRetry).toBe(true);
    expect(r.response?.answers[0]?.data.length).toBe(2000);
  });

  it("classifies a name that does not exist as NEGATIVE with the zone's negative TTL", async () => {
    const watch = createPropagationWatch({
      names: ["nothing.example.test"],
      expect: [NEW],
      resolvers: [{ server: parseServerSpec(unbound.address), name: "unbound", group: "public" }],
      authoritative: false,
    });
    const r = await watch.round();
    expect(r.targets[0]?.status).toBe("NEGATIVE");
    expect(r.targets[0]?.observations[0]?.negativeTtl).toBeLessThanOrEqual(2);
    expect(r.propagated).toBe(false);
  });
});
