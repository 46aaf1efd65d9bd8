import { afterAll, describe, expect, it } from "vitest";
import { applyChangeSet, createRoute53Provider, type DnsProvider } from "../../src/index.js";
import { Route53Fake, startFakeServer } from "@cutover/testkit/dns-fakes";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { discoverTargets, planLower, planSwap } from "@cutover/core";

const KEY_ID = "AKIAFAKE0123456789AB";
const SECRET = "fakeSecretKey0123456789abcdefABCDEF012345";
const server = startFakeServer();
afterAll(() => server.close());

let n = 0;
/** A fake without its 5 requests/s limit (the tests' sleep returns at once); one test keeps it, with real waits. */
function fakeWith(rateLimit = 0): Route53Fake {
  const fake = new Route53Fake({ baseUrl: `https://r53-${++n}.test` });
  fake.switches.rateLimit.requests = rateLimit;
  server.use(...fake.handlers);
  return fake;
}

function providerFor(
  fake: Route53Fake,
  extra: { env?: Record<string, string>; waits?: number[]; apiUrl?: string; realTime?: boolean } = {},
): DnsProvider {
  return createRoute53Provider({
    provider: "route53",
    zones: [CONTRACT_ZONE],
    ...(extra.apiUrl === "" ? {} : { apiUrl: extra.apiUrl ?? fake.baseUrl }),
    options: extra.realTime ? {} : { rateLimit: 10_000 },
    baseDir: "/",
    env: extra.env ?? { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET },
    ...(extra.realTime
      ? {}
      : {
          sleep: async (ms: number) => {
            extra.waits?.push(ms);
          },
        }),
  });
}

testProvider("route53", async () => {
  const fake = fakeWith();
  const zone = fake.addZone(CONTRACT_ZONE);
  fake.addZone(CONTRACT_ZONE, true); // a private zone of the same name is not the one
  for (const s of CONTRACT_SEED) fake.addRecord(zone, s);
  const provider = providerFor(fake);
  return { provider, close: async () => provider.close?.() };
});

describe("route53 provider", () => {
  it("swaps 700 RRsets as DELETE+CREATE within the per-request limits, requests sent together, then waits for INSYNC", async () => {
    const fake = fakeWith();
    fake.switches.rateLimit.requests = 0;
    const zone = fake.addZone(CONTRACT_ZONE);
    for (let i = 0; i < 700; i++)
      fake.addRecord(zone, { name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 });
    fake.pendingPolls = 2;
    const p = providerFor(fake);
    const records = await p.listRecords(CONTRACT_ZONE);
    expect(records.filter((r) => r.type === "A")).toHaveLength(700);
    // 702 sets at 300 a page.
    expect(fake.log.filter((r) => r.path.endsWith("/rrset"))).toHaveLength(3);
    const targets = discoverTargets(records, CONTRACT_MOVE).targets;
    const from = fake.log.length;
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.complete).toBe(true);
    const posts = fake.log.slice(from).filter((r) => r.method === "POST");
    // 700 DELETE + 700 CREATE values = 1,400 > 1,000 per request: two requests.
    expect(posts).toHaveLength(2);
    expect(posts.map((r) => (String(r.body).match(/<Change>/g) ?? []).length)).toEqual([1000, 400]);
    expect(fake.log.slice(from).filter((r) => r.path.includes("/change/")).length).toBeGreaterThanOrEqual(6);
    expect([...fake.changes.values()].every((c) => c.status === "INSYNC")).toBe(true);
    expect(fake.log.filter((r) => r.status === 400)).toEqual([]);
    await p.close?.();
  }, 60_000);

  it("keeps the staying member of a multi-value RRset with one TTL", async () => {
    const fake = fakeWith();
    const zone = fake.addZone(CONTRACT_ZONE);
    fake.addRecord(zone, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord(zone, { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 });
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    expect((await applyChangeSet(p, planLower(targets, 60, p.capabilities))).complete).toBe(true);
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 60, p.capabilities))).complete).toBe(true);
    expect(fake.set(zone, "www", "A")).toMatchObject({ TTL: 60, Values: ["203.0.113.20", "198.51.100.11"] });
    await p.close?.();
  });

  it("is a compare-and-swap: an RRset changed since it was read makes the whole request apply nothing", async () => {
    const fake = fakeWith();
    const zone = fake.addZone(CONTRACT_ZONE);
    fake.addRecord(zone, { name: "www", type: "A", content: "198.51.100.10", ttl: 300 });
    fake.addRecord(zone, { name: "mail", type: "A", content: "198.51.100.10", ttl: 300 });
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    const changes = planSwap(targets, CONTRACT_MOVE, 300, p.capabilities).changes.map((c) => ({
      ...c,
      current: targets.find((t) => t.name === c.name)!,
    }));
    // Someone changes www's TTL between the provider's read and its write (just as the write arrives).
    fake.switches.faults = (r) => {
      if (r.method === "POST") fake.set(zone, "www", "A")!.TTL = 301;
      return undefined;
    };
    const outcomes = await p.applyChanges(CONTRACT_ZONE, changes);
    expect(outcomes.every((o) => o.status === "failed")).toBe(true);
    expect((outcomes[0] as { error: string }).error).toMatch(
      /\[route53\] 400 InvalidChangeBatch: .*do not match the current values/,
    );
    expect(fake.set(zone, "mail", "A")!.Values).toEqual(["198.51.100.10"]);
    await p.close?.();
  });

  it("a request that landed but whose answer was lost counts as applied when its retry is refused", async () => {
    const fake = fakeWith();
    const zone = fake.addZone(CONTRACT_ZONE);
    fake.addRecord(zone, { name: "www", type: "A", content: "198.51.100.10", ttl: 300 });
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "lost" }, (r) => r.method === "POST");
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(report.outcomes.map((o) => o.status)).toEqual(["applied"]);
    const posts = fake.log.filter((r) => r.method === "POST");
    expect(posts.map((r) => r.status)).toEqual([0, 400]);
    expect(fake.set(zone, "www", "A")!.Values).toEqual(["203.0.113.20"]);
    await p.close?.();
  });

  it("refuses alias and weighted records with what to do, and lists them", async () => {
    const fake = fakeWith();
    const zone = fake.addZone(CONTRACT_ZONE);
    zone.sets.push(
      { Name: "w.example.com.", Type: "A", TTL: 60, Values: ["198.51.100.10"], SetIdentifier: "blue", Weight: 90 },
      {
        Name: "lb.example.com.",
        Type: "A",
        Values: [],
        Alias: { HostedZoneId: "Z35", DNSName: "my-lb.elb.amazonaws.com." },
      },
    );
    const p = providerFor(fake);
    const records = await p.listRecords(CONTRACT_ZONE);
    expect(records.find((r) => r.name === "lb.example.com")).toMatchObject({
      content: "ALIAS my-lb.elb.amazonaws.com",
    });
    const targets = discoverTargets(records, CONTRACT_MOVE).targets;
    expect(targets.map((t) => t.name)).toEqual(["w.example.com"]);
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 60, p.capabilities));
    expect((report.outcomes[0] as { error: string }).error).toMatch(
      /w\.example\.com A is an routing policy record: cutover changes simple records only/,
    );
    expect(fake.writes()).toHaveLength(0);
    await p.close?.();
  });

  it("retries Throttling, honours AWS_ENDPOINT_URL_ROUTE_53, and never shows the secret key", async () => {
    const fake = fakeWith();
    const zone = fake.addZone(CONTRACT_ZONE);
    fake.addRecord(zone, { name: "www", type: "A", content: "198.51.100.10", ttl: 300 });
    const waits: number[] = [];
    const env = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_ENDPOINT_URL_ROUTE_53: fake.baseUrl };
    const p = providerFor(fake, { env, waits, apiUrl: "" });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "status", status: 400 }, (r) => r.method === "POST");
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities))).complete).toBe(true);
    expect(waits).toContain(500);
    await p.close?.();
    const bad = providerFor(fake, {
      env: { AWS_ACCESS_KEY_ID: "AKIAWRONG00000000000", AWS_SECRET_ACCESS_KEY: SECRET },
    });
    const error = await bad.listRecords(CONTRACT_ZONE).catch((e: Error) => e);
    expect(String(error)).toMatch(/\[route53\] 403 InvalidClientTokenId: .* while looking up hosted zone example\.com/);
    expect((error as { hint?: string }).hint).toMatch(/route53:ChangeResourceRecordSets/);
    expect(JSON.stringify({ e: String(error), h: (error as { hint?: string }).hint })).not.toContain(SECRET);
    await bad.close?.();
  });
});

describe("route53 loading", () => {
  it("imports the AWS SDK only when a Route 53 provider first calls the API (the CLI's start time)", async () => {
    const dist = new URL("../../dist/index.js", import.meta.url).href;
    const script = `
      import { createRequire } from "node:module";
      const dns = await import(${JSON.stringify(dist)});
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((k) => k.includes("@aws-sdk/client-route-53"));
      const atImport = loaded();
      const p = dns.createRoute53Provider({ provider: "route53", zones: [], options: { retries: 0 }, baseDir: "/",
        env: { AWS_ACCESS_KEY_ID: "AKIAFAKE0123456789AB", AWS_SECRET_ACCESS_KEY: "x".repeat(40),
               AWS_ENDPOINT_URL_ROUTE_53: "http://127.0.0.1:9" } });
      const atCreate = loaded();
      await p.listZones().catch(() => {});
      console.log(JSON.stringify({ atImport, atCreate, atCall: loaded() }));
      await p.close();`;
    const { execFile } = await import("node:child_process");
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
      ),
    );
    expect(JSON.parse(out.trim().split("\n").pop()!)).toEqual({ atImport: false, atCreate: false, atCall: true });
  }, 40_000);
});
