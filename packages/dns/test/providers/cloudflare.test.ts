import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { applyChangeSet, type DnsProvider } from "../../src/index.js";
import { createCloudflareProvider } from "../../src/providers/cloudflare.js";
import { CloudflareFake, startFakeServer } from "@cutover/testkit/dns-fakes";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { discoverTargets, planLower, planRestore, planSwap } from "@cutover/core";

const TOKEN = "cf-test-token-0123456789";
const server = startFakeServer();
afterAll(() => server.close());

function fakeWith(base: string, options: ConstructorParameters<typeof CloudflareFake>[0] = {}) {
  const fake = new CloudflareFake({ baseUrl: base, ...options });
  server.use(...fake.handlers);
  return fake;
}

function providerFor(fake: CloudflareFake, extra: { batchSize?: number; waits?: number[] } = {}): DnsProvider {
  return createCloudflareProvider({
    provider: "cloudflare",
    zones: [CONTRACT_ZONE],
    apiUrl: fake.baseUrl,
    ...(extra.batchSize ? { batchSize: extra.batchSize } : {}),
    options: {},
    baseDir: "/",
    env: { CLOUDFLARE_API_TOKEN: TOKEN },
    sleep: async (ms) => {
      extra.waits?.push(ms);
    },
  });
}

testProvider("cloudflare", async () => {
  const fake = fakeWith("https://contract.cf.test/client/v4");
  fake.addZone(CONTRACT_ZONE);
  fake.addZone("example.net");
  for (const s of CONTRACT_SEED) fake.addRecord(CONTRACT_ZONE, s);
  return { provider: providerFor(fake), close: async () => {} };
});

describe("cloudflare provider", () => {
  let n = 0;
  let fake: CloudflareFake;
  beforeEach(() => {
    fake = fakeWith(`https://cf${++n}.test/client/v4`);
    fake.addZone(CONTRACT_ZONE);
  });

  it("keeps proxied, comments and tags, and says a proxied swap has no TTL to wait for", async () => {
    fake.addRecord(CONTRACT_ZONE, {
      name: "www",
      type: "A",
      content: "198.51.100.10",
      proxied: true,
      comment: "web",
      tags: ["team:ops"],
    });
    const p = providerFor(fake);
    const d = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE);
    expect(planLower(d.targets, 300, p.capabilities).changes).toEqual([]);
    const swap = planSwap(d.targets, CONTRACT_MOVE, 300, p.capabilities);
    expect(swap.changes[0]!.notes?.join(" ")).toMatch(/proxied/);
    expect((await applyChangeSet(p, swap)).complete).toBe(true);
    expect(fake.find(CONTRACT_ZONE, "www", "A")[0]).toMatchObject({
      content: "203.0.113.20",
      proxied: true,
      ttl: 1,
      comment: "web",
      tags: ["team:ops"],
    });
    const patch = fake.log.find((r) => r.path.endsWith("/batch"))!;
    expect((patch.body as any).patches[0]).not.toHaveProperty("ttl");
    expect((patch.body as any).patches[0]).not.toHaveProperty("proxied");
  });

  it("reads TTL 1 as automatic (300) and gives 1 back on restore", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "app", type: "A", content: "198.51.100.10", ttl: 1 });
    const p = providerFor(fake);
    const [t] = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    expect(t).toMatchObject({ ttl: 300, meta: { ttlAuto: true } });
    await applyChangeSet(p, planLower([t!], 60, p.capabilities));
    expect(fake.find(CONTRACT_ZONE, "app", "A")[0]!.ttl).toBe(60);
    await applyChangeSet(p, planSwap([t!], CONTRACT_MOVE, 60, p.capabilities));
    const report = await applyChangeSet(p, planRestore([t!], CONTRACT_MOVE, 60, p.capabilities));
    expect(report.complete).toBe(true);
    expect(fake.find(CONTRACT_ZONE, "app", "A")[0]).toMatchObject({ ttl: 1, content: "203.0.113.20" });
  });

  it("swaps 450 records in batches of the plan's size, one list before and after", async () => {
    for (let i = 0; i < 450; i++)
      fake.addRecord(CONTRACT_ZONE, { name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 });
    const p = providerFor(fake, { batchSize: 200 });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.log.length = 0;
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.complete).toBe(true);
    expect(fake.log.map((r) => `${r.method} ${r.path.split("/").pop()}`)).toEqual([
      "GET dns_records",
      "POST batch",
      "POST batch",
      "POST batch",
      "GET dns_records",
    ]);
    expect(fake.list(CONTRACT_ZONE).every((r) => r.content === "203.0.113.20")).toBe(true);
  });

  it("waits as Retry-After says on 429 and retries 5xx", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    const waits: number[] = [];
    const p = providerFor(fake, { waits });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "status", status: 429, retryAfter: 7 }, (r) => r.method === "POST");
    fake.failNext({ kind: "status", status: 502 }, (r) => r.method === "POST");
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.complete).toBe(true);
    expect(waits[0]).toBe(7000);
    expect(waits).toHaveLength(2);
  });

  it("gives up on a request that hangs (10 minutes here) and retries it", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    const p = createCloudflareProvider({
      provider: "cloudflare",
      zones: [CONTRACT_ZONE],
      apiUrl: fake.baseUrl,
      options: { timeoutMs: 200 },
      baseDir: "/",
      env: { CLOUDFLARE_API_TOKEN: TOKEN },
      sleep: async () => {},
    });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "timeout", ms: 600_000 }, (r) => r.method === "POST");
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.complete).toBe(true);
    expect(fake.log.filter((r) => r.method === "POST")).toHaveLength(2);
  });

  it("stays under its request budget by waiting instead of being blocked", async () => {
    const waits: number[] = [];
    const p = createCloudflareProvider({
      provider: "cloudflare",
      zones: [CONTRACT_ZONE],
      apiUrl: fake.baseUrl,
      options: { rateLimit: 2, rateWindowMs: 300_000 },
      baseDir: "/",
      env: { CLOUDFLARE_API_TOKEN: TOKEN },
      sleep: async (ms) => {
        waits.push(ms);
        throw new Error("stopped waiting");
      },
    });
    await p.listRecords(CONTRACT_ZONE); // zone lookup + one page = 2 requests
    await expect(p.listRecords(CONTRACT_ZONE)).rejects.toThrow(/stopped waiting/);
    expect(waits[0]).toBeGreaterThan(290_000);
  });

  it("names the provider, status, record and what to do on errors, never the token", async () => {
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.tokens[TOKEN] = "read";
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    const o = report.outcomes[0]!;
    expect(o.status).toBe("failed");
    const error = (o as { error: string }).error;
    expect(error).toMatch(
      /^\[cloudflare\] 403 Authentication error \(10000\) while writing 1 record\(s\) in one batch \(www\.example\.com A\)/,
    );
    expect(error).not.toContain(TOKEN);
    const bad = createCloudflareProvider({
      provider: "cloudflare",
      zones: [],
      apiUrl: fake.baseUrl,
      options: {},
      baseDir: "/",
      env: { CLOUDFLARE_API_TOKEN: "wrong-token-value" },
    });
    const e = (await bad.listRecords(CONTRACT_ZONE).then(
      () => new Error("no error"),
      (x: unknown) => x,
    )) as Error & { hint?: string };
    expect(e.message).toMatch(/\[cloudflare\] 403 Invalid access token \(9109\)/);
    expect(e.hint).toMatch(/CLOUDFLARE_API_TOKEN/);
    expect(() =>
      createCloudflareProvider({ provider: "cloudflare", zones: [], options: {}, baseDir: "/", env: {} }),
    ).toThrow(/set CLOUDFLARE_API_TOKEN/);
  });

  it("reports an unknown zone clearly", async () => {
    const p = providerFor(fake);
    await expect(p.listRecords("nope.example")).rejects.toThrow(/zone nope\.example not found/);
  });
});
