import { afterAll, describe, expect, it } from "vitest";
import { applyChangeSet, createDigitalOceanProvider, type DnsProvider } from "../../src/index.js";
import { DigitalOceanFake, startFakeServer } from "@cutover/testkit/dns-fakes";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { discoverTargets, planLower, planRestore, planSwap } from "@cutover/core";

const TOKEN = "dop_v1_fake0123456789abcdef";
const server = startFakeServer();
afterAll(() => server.close());

let n = 0;
function fakeWith(): DigitalOceanFake {
  const fake = new DigitalOceanFake({ baseUrl: `https://do${++n}.test/v2` });
  server.use(...fake.handlers);
  fake.addDomain(CONTRACT_ZONE);
  return fake;
}

function providerFor(
  fake: DigitalOceanFake,
  extra: { waits?: number[]; env?: Record<string, string>; options?: Record<string, unknown> } = {},
): DnsProvider {
  return createDigitalOceanProvider({
    provider: "digitalocean",
    zones: [CONTRACT_ZONE],
    apiUrl: fake.baseUrl,
    options: extra.options ?? {},
    baseDir: "/",
    env: extra.env ?? { DIGITALOCEAN_ACCESS_TOKEN: TOKEN },
    sleep: async (ms) => {
      extra.waits?.push(ms);
    },
  });
}

testProvider("digitalocean", async () => {
  const fake = fakeWith();
  for (const s of CONTRACT_SEED) fake.addRecord(CONTRACT_ZONE, s);
  return { provider: providerFor(fake), close: async () => {} };
});

describe("digitalocean provider", () => {
  it("pages through 450 records (200 a page) and keeps under the burst limit", async () => {
    const fake = fakeWith();
    for (let i = 0; i < 450; i++)
      fake.addRecord(CONTRACT_ZONE, { name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 });
    const p = providerFor(fake);
    expect(await p.listRecords(CONTRACT_ZONE)).toHaveLength(450);
    expect(fake.log.map((r) => r.query.page)).toEqual(["1", "2", "3"]);
    expect(fake.log.every((r) => r.query.per_page === "200")).toBe(true);
  });

  it("gives the staying member of a multi-value RRset the same TTL and keeps its address", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 });
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    expect(targets).toHaveLength(1);
    expect((await applyChangeSet(p, planLower(targets, 60, p.capabilities))).complete).toBe(true);
    expect(fake.find(CONTRACT_ZONE, "www", "A").map((r) => [r.data, r.ttl])).toEqual([
      ["198.51.100.10", 60],
      ["198.51.100.11", 60],
    ]);
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 60, p.capabilities))).complete).toBe(true);
    expect((await applyChangeSet(p, planRestore(targets, CONTRACT_MOVE, 60, p.capabilities))).complete).toBe(true);
    expect(fake.find(CONTRACT_ZONE, "www", "A").map((r) => [r.data, r.ttl])).toEqual([
      ["203.0.113.20", 3600],
      ["198.51.100.11", 3600],
    ]);
  });

  it("waits as Retry-After says on a 429, retries a 500 and a dropped connection", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    const waits: number[] = [];
    const p = providerFor(fake, { waits });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "status", status: 429, retryAfter: 7 }, (r) => r.method === "PATCH");
    fake.failNext({ kind: "status", status: 500 }, (r) => r.method === "PATCH");
    fake.failNext({ kind: "network" }, (r) => r.method === "PATCH");
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities))).complete).toBe(true);
    expect(waits).toEqual([7000, 1000, 2000]);
  });

  it("gives up on a request that hangs (10 minutes here) and retries it; a lost answer is written again", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord(CONTRACT_ZONE, { name: "mail", type: "A", content: "198.51.100.10", ttl: 3600 });
    const p = providerFor(fake, { options: { timeoutMs: 200 } });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext(
      { kind: "timeout", ms: 600_000 },
      (r) => r.method === "PATCH" && r.path.endsWith(String(targets[0]!.id)),
    );
    fake.failNext({ kind: "lost" }, (r) => r.method === "PATCH" && r.path.endsWith(String(targets[1]!.id)));
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.outcomes.map((o) => o.status)).toEqual(["applied", "applied"]);
    expect(fake.writes()).toHaveLength(4);
  });

  it("reads DIGITALOCEAN_TOKEN too, names provider and status on errors, never the token", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    const p = providerFor(fake, { env: { DIGITALOCEAN_TOKEN: TOKEN } });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.tokens.length = 0;
    const change = { ...planSwap(targets, CONTRACT_MOVE, 300, p.capabilities).changes[0]!, current: targets[0]! };
    const report = await p.applyChanges(CONTRACT_ZONE, [change]);
    const error = (report[0] as { error: string }).error;
    expect(error).toMatch(/^\[digitalocean\] 401 Unable to authenticate you \(unauthorized\) while updating www/);
    expect(error).toMatch(/domain:update/);
    expect(JSON.stringify(report)).not.toContain(TOKEN);
    expect(() =>
      createDigitalOceanProvider({ provider: "digitalocean", zones: [], options: {}, baseDir: "/", env: {} }),
    ).toThrow(/DIGITALOCEAN_ACCESS_TOKEN/);
    await expect(p.listRecords("nowhere.test")).rejects.toThrow(/401/);
    fake.tokens.push(TOKEN);
    await expect(p.listRecords("nowhere.test")).rejects.toThrow(/\[digitalocean\] domain nowhere\.test not found/);
  });
});
