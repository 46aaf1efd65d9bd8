import { http, passthrough } from "msw";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyChangeSet, createPowerDnsProvider, queryDns, type DnsProvider } from "../../src/index.js";
import { PowerDnsFake, startFakeServer } from "@cutover/testkit/dns-fakes";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { startPdns, type PdnsServer } from "./_pdns.js";
import { discoverTargets, planLower, planRestore, planSwap } from "@cutover/core";

const FAKE_KEY = "pdns-fake-key-0123456789";
// The real pdns_server on loopback is reached for real; everything else must hit a fake.
const server = startFakeServer(http.all(/^http:\/\/127\.0\.0\.1:\d+\//, () => passthrough()));
afterAll(() => server.close());

function providerOn(apiUrl: string, key: string, options: Record<string, unknown> = {}): DnsProvider {
  return createPowerDnsProvider({
    provider: "powerdns",
    zones: [CONTRACT_ZONE],
    apiUrl,
    options,
    baseDir: "/",
    env: { PDNS_API_KEY: key },
    sleep: async () => {},
  });
}

/** Every address a name has, read from the server over DNS (RD=0), sorted. */
async function served(pdns: PdnsServer, name: string, type: string): Promise<{ data: string[]; ttl: number[] }> {
  const r = await queryDns({ kind: "dns", host: "127.0.0.1", port: pdns.dnsPort, label: "pdns" }, name, type, {
    rd: false,
  });
  expect(r.response?.aa, `${name} ${type} answered authoritatively`).toBe(true);
  const answers = (r.response?.answers ?? []).filter((a) => a.type === type);
  return { data: answers.map((a) => a.data).sort(), ttl: answers.map((a) => a.ttl) };
}

describe("powerdns on a real pdns_server", () => {
  let pdns: PdnsServer;
  beforeAll(async () => {
    pdns = await startPdns();
  }, 30_000);
  afterAll(async () => {
    await pdns?.stop();
  });

  testProvider("powerdns (real pdns_server)", async () => {
    await pdns.createZone(CONTRACT_ZONE, CONTRACT_SEED);
    return { provider: providerOn(pdns.apiUrl, pdns.apiKey), close: async () => {} };
  });

  it("keeps the staying member of a multi-value RRset, gives the RRset one TTL, and the server answers so", async () => {
    const zone = "multi.test";
    await pdns.createZone(zone, [
      { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 },
      { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 },
      { name: "www", type: "AAAA", content: "2001:db8::10", ttl: 3600 },
    ]);
    // The API URL as users copy it, with /api/v1 on the end.
    const p = providerOn(`${pdns.apiUrl}/api/v1`, pdns.apiKey);
    const records = await p.listRecords(zone);
    const www = records.filter((r) => r.name === "www.multi.test" && r.type === "A");
    expect(www.map((r) => r.content).sort()).toEqual(["198.51.100.10", "198.51.100.11"]);
    const d = discoverTargets(records, CONTRACT_MOVE);
    expect(d.targets.map((t) => `${t.name} ${t.type} ${t.content}`).sort()).toEqual([
      "www.multi.test A 198.51.100.10",
      "www.multi.test AAAA 2001:db8::10",
    ]);
    expect((await applyChangeSet(p, { ...planLower(d.targets, 60, p.capabilities), step: "lower" })).complete).toBe(
      true,
    );
    expect(await served(pdns, "www.multi.test", "A")).toEqual({
      data: ["198.51.100.10", "198.51.100.11"],
      ttl: [60, 60],
    });
    const swap = await applyChangeSet(p, planSwap(d.targets, CONTRACT_MOVE, 60, p.capabilities));
    expect(swap.complete).toBe(true);
    expect(await served(pdns, "www.multi.test", "A")).toEqual({
      data: ["198.51.100.11", "203.0.113.20"],
      ttl: [60, 60],
    });
    expect((await served(pdns, "www.multi.test", "AAAA")).data).toEqual(["2001:db8::20"]);
    const restore = await applyChangeSet(p, planRestore(d.targets, CONTRACT_MOVE, 60, p.capabilities));
    expect(restore.complete).toBe(true);
    expect(await served(pdns, "www.multi.test", "A")).toEqual({
      data: ["198.51.100.11", "203.0.113.20"],
      ttl: [3600, 3600],
    });
  });

  it("serves the swapped contract zone over DNS and bumped the SOA serial", async () => {
    const soa = await queryDns(
      { kind: "dns", host: "127.0.0.1", port: pdns.dnsPort, label: "pdns" },
      CONTRACT_ZONE,
      "SOA",
      {
        rd: false,
      },
    );
    const serial = Number(soa.response!.answers[0]!.data.split(" ")[2]);
    // The zone was created with serial 0 or 1 by the API; the contract suite's writes each bumped it.
    expect(serial).toBeGreaterThan(1);
    // After the contract's last step (conflict) www is on the new address again.
    expect((await served(pdns, "www.example.com", "A")).data).toEqual(["203.0.113.20"]);
  });

  it("refuses to write a Slave zone with what to do, and says why a bad key fails without showing it", async () => {
    await pdns.createZone("secondary.test", [], "Slave").catch(() => undefined);
    const p = providerOn(pdns.apiUrl, pdns.apiKey);
    const fake = { zone: "secondary.test", id: "x", name: "secondary.test", type: "A" };
    const [o] = await p.applyChanges("secondary.test", [
      {
        ...fake,
        before: { content: "192.0.2.1", ttl: 60 },
        after: { content: "192.0.2.2", ttl: 60 },
        record: { ...fake, content: "192.0.2.1", ttl: 60 },
      },
    ]);
    expect(o).toMatchObject({ status: "failed" });
    expect((o as { error: string }).error).toMatch(/\[powerdns\] zone secondary\.test is a Slave zone.*primary/);
    const bad = providerOn(pdns.apiUrl, "wrong-key-abcdef123456");
    const error = await bad.listRecords(CONTRACT_ZONE).catch((e: Error) => e);
    expect(String(error)).toMatch(/\[powerdns\] 401 .* while reading|\[powerdns\] 401 .* while looking up/);
    expect(JSON.stringify(error)).not.toContain("wrong-key-abcdef123456");
    expect(String(error)).not.toContain("wrong-key-abcdef123456");
  });
});

describe("powerdns on the fake", () => {
  let n = 0;
  const fakeWith = () => {
    const fake = new PowerDnsFake({ baseUrl: `http://pdns${++n}.test:8081`, keys: [FAKE_KEY] });
    server.use(...fake.handlers);
    return fake;
  };

  testProvider("powerdns (fake)", async () => {
    const fake = fakeWith();
    fake.addZone(CONTRACT_ZONE, CONTRACT_SEED);
    return { provider: providerOn(fake.baseUrl, FAKE_KEY), close: async () => {} };
  });

  it("writes a whole zone's swap in one PATCH and retries a 503 and a dropped connection", async () => {
    const fake = fakeWith();
    fake.addZone(
      CONTRACT_ZONE,
      Array.from({ length: 50 }, (_, i) => ({ name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 })),
    );
    const p = providerOn(fake.baseUrl, FAKE_KEY);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "status", status: 503 }, (r) => r.method === "PATCH");
    fake.failNext({ kind: "network" }, (r) => r.method === "PATCH");
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.complete).toBe(true);
    expect(fake.writes().filter((r) => r.method === "PATCH")).toHaveLength(3);
    expect(fake.writes().filter((r) => r.method === "PATCH" && r.status === 204)).toHaveLength(1);
    expect(fake.log.every((r) => r.authorization === null)).toBe(true);
  });

  it("asks a Master zone's server to NOTIFY its secondaries after a write, a Native zone's not", async () => {
    const fake = fakeWith();
    const master = fake.addZone(
      "master.test",
      [{ name: "www", type: "A", content: "198.51.100.10", ttl: 300 }],
      "Master",
    );
    const native = fake.addZone("native.test", [{ name: "www", type: "A", content: "198.51.100.10", ttl: 300 }]);
    const p = providerOn(fake.baseUrl, FAKE_KEY);
    for (const zone of ["master.test", "native.test"]) {
      const targets = discoverTargets(await p.listRecords(zone), CONTRACT_MOVE).targets;
      expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities))).complete).toBe(true);
    }
    expect([master.notified, native.notified]).toEqual([1, 0]);
    expect(master.serial).toBe(2026010102);
  });

  it("names the missing key and server, and an unknown zone", async () => {
    expect(() =>
      createPowerDnsProvider({ provider: "powerdns", zones: [], options: {}, baseDir: "/", env: {} }),
    ).toThrow(/PDNS_API_KEY.*PDNS_API_URL/);
    const fake = fakeWith();
    const p = providerOn(fake.baseUrl, FAKE_KEY);
    await expect(p.listRecords("nowhere.test")).rejects.toThrow(
      /\[powerdns\] zone nowhere\.test is not on this server/,
    );
  });
});
