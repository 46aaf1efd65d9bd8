import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyChangeSet, type DnsProvider } from "../../src/index.js";
import { createLinodeProvider } from "../../src/providers/linode.js";
import { LinodeFake, startFakeServer } from "@cutover/testkit/dns-fakes";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { discoverTargets, planLower, planRestore, planSwap } from "@cutover/core";

const TOKEN = "linode-test-token-abcdef0123";
const server = startFakeServer();
afterAll(() => server.close());

function fakeWith(base: string) {
  const fake = new LinodeFake({ baseUrl: base });
  server.use(...fake.handlers);
  return fake;
}

function providerFor(
  fake: LinodeFake,
  extra: { waits?: number[]; options?: Record<string, unknown>; env?: Record<string, string> } = {},
): DnsProvider {
  return createLinodeProvider({
    provider: "linode",
    zones: [CONTRACT_ZONE],
    apiUrl: fake.baseUrl,
    options: extra.options ?? {},
    baseDir: "/",
    env: extra.env ?? { LINODE_TOKEN: TOKEN },
    sleep: async (ms) => {
      extra.waits?.push(ms);
    },
  });
}

testProvider("linode", async () => {
  const fake = fakeWith("https://contract.linode.test/v4");
  fake.addDomain(CONTRACT_ZONE);
  fake.addDomain("example.net");
  for (const s of CONTRACT_SEED)
    fake.addRecord(CONTRACT_ZONE, { name: s.name, type: s.type, target: s.content, ttl_sec: s.ttl });
  const provider = providerFor(fake);
  return { provider, close: async () => provider.close?.() };
});

describe("linode provider", () => {
  let n = 0;
  let fake: LinodeFake;
  let p: DnsProvider;
  beforeEach(() => {
    fake = fakeWith(`https://li${++n}.test/v4`);
    fake.addDomain(CONTRACT_ZONE, 0);
  });
  afterEach(async () => {
    await p?.close?.();
  });

  it('names the apex "", resolves ttl_sec 0 to the domain default and gives 0 back on restore', async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "", type: "A", target: "198.51.100.10", ttl_sec: 0 });
    p = providerFor(fake);
    const [apex] = await p.listRecords(CONTRACT_ZONE);
    expect(apex).toMatchObject({ name: "example.com", ttl: 86400, meta: { ttlDefault: true } });
    await applyChangeSet(p, planLower([apex!], 300, p.capabilities));
    expect(fake.find(CONTRACT_ZONE, "", "A")[0]!.ttl_sec).toBe(300);
    await applyChangeSet(p, planSwap([apex!], CONTRACT_MOVE, 300, p.capabilities));
    const report = await applyChangeSet(p, planRestore([apex!], CONTRACT_MOVE, 300, p.capabilities));
    expect(report.complete).toBe(true);
    expect(fake.find(CONTRACT_ZONE, "", "A")[0]).toMatchObject({ ttl_sec: 0, target: "203.0.113.20" });
  });

  it("snaps a low TTL up to Linode's next step and says so", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    const set = planLower(targets, 250, p.capabilities);
    expect(set.changes[0]!.after.ttl).toBe(300);
    expect(set.changes[0]!.notes).toEqual([
      "TTL 250 snapped to 300 (the provider only accepts 30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200)",
    ]);
    expect((await applyChangeSet(p, set)).complete).toBe(true);
  });

  it("writes the TTL again when the API did not keep it", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.ignoreTtlWrites = 1;
    expect((await applyChangeSet(p, planLower(targets, 300, p.capabilities))).complete).toBe(true);
    expect(fake.writes()).toHaveLength(2);
  });

  it("pages through 1200 records and swaps them with bounded concurrency", async () => {
    for (let i = 0; i < 1200; i++)
      fake.addRecord(CONTRACT_ZONE, { name: `h${i}`, type: "A", target: "198.51.100.10", ttl_sec: 300 });
    p = providerFor(fake, { options: { concurrency: 4 } });
    fake.switches.latencyMs = 2;
    const records = await p.listRecords(CONTRACT_ZONE);
    expect(records).toHaveLength(1200);
    expect(fake.log.filter((r) => r.path.endsWith("/records")).map((r) => r.query.page)).toEqual(["1", "2", "3"]);
    const targets = discoverTargets(records, CONTRACT_MOVE).targets.slice(0, 40);
    let inFlight = 0;
    let most = 0;
    const watch = setInterval(() => {
      inFlight = fake.log.filter((r) => r.method === "PUT" && r.doneAt === undefined).length;
      most = Math.max(most, inFlight);
    }, 1);
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    clearInterval(watch);
    expect(report.complete).toBe(true);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
  });

  it("retries a 429 after Retry-After and a 503", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    const waits: number[] = [];
    p = providerFor(fake, { waits });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "status", status: 429, retryAfter: 3 }, (r) => r.method === "PUT");
    fake.failNext({ kind: "status", status: 503 }, (r) => r.method === "PUT");
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities))).complete).toBe(true);
    expect(waits).toEqual([3000, 1000]);
  });

  it("gives up on a request that hangs (10 minutes here) and retries it", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    p = providerFor(fake, { options: { timeoutMs: 200 } });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "timeout", ms: 600_000 }, (r) => r.method === "PUT");
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities))).complete).toBe(true);
    expect(fake.writes()).toHaveLength(2);
  });

  it("sets reverse DNS for the new address once the forward record points at it", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "mail", type: "A", target: "198.51.100.10", ttl_sec: 300 });
    fake.addIp("203.0.113.20");
    p = providerFor(fake);
    await expect(p.setReverseDns!("203.0.113.20", "mail.example.com")).rejects.toThrow(
      /\[linode\] 400 rdns: mail\.example\.com does not resolve to 203\.0\.113\.20/,
    );
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    await p.setReverseDns!("203.0.113.20", "mail.example.com");
    expect(fake.ips.get("203.0.113.20")!.rdns).toBe("mail.example.com");
  });

  it("uses LINODE_CLI_TOKEN, keeps one token per client, and refuses calls once closed", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", target: "198.51.100.10" });
    const other = fakeWith("https://other.linode.test/v4");
    other.tokens.splice(0, 1, "second-token-zyxw9876");
    other.addDomain(CONTRACT_ZONE);
    const a = providerFor(fake, { env: { LINODE_CLI_TOKEN: TOKEN } });
    const b = providerFor(other, { env: { LINODE_TOKEN: "second-token-zyxw9876" } });
    const [ra, rb] = await Promise.all([a.listRecords(CONTRACT_ZONE), b.listRecords(CONTRACT_ZONE)]);
    expect(ra).toHaveLength(1);
    expect(rb).toHaveLength(0);
    expect(fake.log.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(other.log.every((r) => r.authorization === "Bearer second-token-zyxw9876")).toBe(true);
    await a.close!();
    await b.close!();
    await expect(a.listRecords(CONTRACT_ZONE)).rejects.toThrow(/provider is closed/);
  });

  it("names the provider, status and record on errors, never the token", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.tokens.length = 0;
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    const error = (report.outcomes[0] as { error: string }).error;
    expect(error).toMatch(/^\[linode\] 401 Invalid Token while/);
    expect(JSON.stringify(report)).not.toContain(TOKEN);
    expect(() => createLinodeProvider({ provider: "linode", zones: [], options: {}, baseDir: "/", env: {} })).toThrow(
      /LINODE_TOKEN/,
    );
  });
});
