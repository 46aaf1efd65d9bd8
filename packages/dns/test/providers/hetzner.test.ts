import { afterAll, describe, expect, it } from "vitest";
import { applyChangeSet, createHetznerProvider, type DnsProvider } from "../../src/index.js";
import { HetznerFake, startFakeServer } from "@cutover/testkit/dns-fakes";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { discoverTargets, planLower, planRestore, planSwap } from "@cutover/core";

const TOKEN = "hcloud-fake-token-0123456789abcdef";
const server = startFakeServer();
afterAll(() => server.close());

let n = 0;
function fakeWith(mode: "primary" | "secondary" = "primary"): HetznerFake {
  const fake = new HetznerFake({ baseUrl: `https://hz${++n}.test/v1` });
  server.use(...fake.handlers);
  fake.addZone(CONTRACT_ZONE, mode);
  return fake;
}

function providerFor(fake: HetznerFake, env: Record<string, string> = { HCLOUD_TOKEN: TOKEN }): DnsProvider {
  return createHetznerProvider({
    provider: "hetzner",
    zones: [CONTRACT_ZONE],
    apiUrl: fake.baseUrl,
    options: {},
    baseDir: "/",
    env,
    sleep: async () => {},
  });
}

testProvider("hetzner", async () => {
  const fake = fakeWith();
  for (const s of CONTRACT_SEED) fake.addRecord(CONTRACT_ZONE, s);
  return { provider: providerFor(fake), close: async () => {} };
});

describe("hetzner provider", () => {
  it("keeps the staying member of a multi-value RRset and its comment; a swap is one action per RRset", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 });
    fake.rrset(CONTRACT_ZONE, "www", "A")!.records[1]!.comment = "backup web";
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    expect((await applyChangeSet(p, planLower(targets, 60, p.capabilities))).complete).toBe(true);
    expect(fake.rrset(CONTRACT_ZONE, "www", "A")!.ttl).toBe(60);
    const from = fake.log.length;
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 60, p.capabilities))).complete).toBe(true);
    const posts = fake.log.slice(from).filter((r) => r.method === "POST");
    expect(posts.map((r) => r.path.split("/").slice(-3).join("/"))).toEqual(["A/actions/set_records"]);
    expect(fake.rrset(CONTRACT_ZONE, "www", "A")!.records).toEqual([
      { value: "203.0.113.20" },
      { value: "198.51.100.11", comment: "backup web" },
    ]);
  });

  it("gives the zone's default back (ttl null) on restore", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "@", type: "A", content: "198.51.100.10", ttl: null });
    const p = providerFor(fake);
    const [apex] = await p.listRecords(CONTRACT_ZONE);
    expect(apex).toMatchObject({ name: CONTRACT_ZONE, ttl: 3600, meta: { ttlDefault: true } });
    await applyChangeSet(p, planLower([apex!], 60, p.capabilities));
    expect(fake.rrset(CONTRACT_ZONE, "@", "A")!.ttl).toBe(60);
    await applyChangeSet(p, planSwap([apex!], CONTRACT_MOVE, 60, p.capabilities));
    expect((await applyChangeSet(p, planRestore([apex!], CONTRACT_MOVE, 60, p.capabilities))).complete).toBe(true);
    expect(fake.rrset(CONTRACT_ZONE, "@", "A")).toMatchObject({ ttl: null, records: [{ value: "203.0.113.20" }] });
  });

  it("reports an action that ends in an error as failed for its records, the others applied", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord(CONTRACT_ZONE, { name: "mail", type: "A", content: "198.51.100.10", ttl: 3600 });
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNextAction = { code: "action_failed", message: "the zone could not be updated" };
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 3600, p.capabilities));
    const byName = new Map(report.outcomes.map((o) => [o.change.name, o]));
    const failed = [...byName.values()].filter((o) => o.status === "failed");
    expect(failed).toHaveLength(1);
    expect((failed[0] as { error: string }).error).toMatch(
      /\[hetzner\] action failed while changing (www|mail)\.example\.com A: the zone could not be updated \(action_failed\)/,
    );
    expect([...byName.values()].filter((o) => o.status === "applied")).toHaveLength(1);
    expect(report.complete).toBe(false);
  });

  it("refuses a secondary zone and a change-protected RRset with what to do", async () => {
    const fake = fakeWith("secondary");
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    const p = providerFor(fake);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    const r1 = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 3600, p.capabilities));
    expect((r1.outcomes[0] as { error: string }).error).toMatch(/\[hetzner\] zone example\.com is a secondary zone/);
    const fake2 = fakeWith();
    fake2.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake2.rrset(CONTRACT_ZONE, "www", "A")!.protection.change = true;
    const p2 = providerFor(fake2);
    const r2 = await applyChangeSet(p2, planSwap(targets, CONTRACT_MOVE, 3600, p2.capabilities));
    expect((r2.outcomes[0] as { error: string }).error).toMatch(
      /\[hetzner\] 423 rrset is change protected \(protected\)/,
    );
  });

  it("retries a 429 and a 503, never shows the token, and explains the old DNS token", async () => {
    const fake = fakeWith();
    fake.addRecord(CONTRACT_ZONE, { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    const p = providerFor(fake, { HETZNER_TOKEN: TOKEN });
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    fake.failNext({ kind: "status", status: 429 }, (r) => r.method === "POST");
    fake.failNext({ kind: "status", status: 503 }, (r) => r.method === "POST");
    expect((await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 3600, p.capabilities))).complete).toBe(true);
    fake.tokens.length = 0;
    const error = await p.listRecords(CONTRACT_ZONE).catch((e: Error) => e);
    expect(String(error)).toMatch(/^ProviderHttpError: \[hetzner\] 401 unable to authenticate \(unauthorized\)/);
    expect(JSON.stringify({ error, message: String(error) })).not.toContain(TOKEN);
    expect(() =>
      createHetznerProvider({
        provider: "hetzner",
        zones: [],
        options: {},
        baseDir: "/",
        env: { HETZNER_DNS_TOKEN: "old" },
      }),
    ).toThrow(/old DNS Console API.*HCLOUD_TOKEN/);
  });
});
