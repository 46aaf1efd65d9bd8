import * as fakes from "@cutover/testkit/dns-fakes";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../../_run.js";
import { writePlan } from "./_fakes.js";

const server = fakes.startFakeServer();
afterAll(() => server.close());

const SEED = [
  { name: "@", type: "A", content: "198.51.100.10", ttl: 3600 },
  { name: "www", type: "A", content: "198.51.100.10", ttl: 86400 },
  { name: "www", type: "AAAA", content: "2001:db8::10", ttl: 86400 },
  { name: "other", type: "A", content: "192.0.2.7", ttl: 3600 },
  { name: "@", type: "TXT", content: "v=spf1 ip4:198.51.100.10 -all", ttl: 3600 },
];

interface Case {
  provider: string;
  secret: string;
  env: Record<string, string>;
  /** Starts the fake seeded with SEED; returns its base URL and a way to revoke the credential. */
  start(): { baseUrl: string; revoke(): void };
  denied: RegExp;
}

const cases: Case[] = [
  {
    provider: "powerdns",
    secret: "pdns-fake-key-0123456789",
    env: { PDNS_API_KEY: "pdns-fake-key-0123456789" },
    start() {
      const fake = new fakes.PowerDnsFake({ baseUrl: "http://pdns.cli.test:8081", keys: ["pdns-fake-key-0123456789"] });
      server.resetHandlers(...fake.handlers);
      fake.addZone("example.com", SEED);
      return { baseUrl: fake.baseUrl, revoke: () => (fake.keys.length = 0) };
    },
    denied: /\[powerdns\] 401 Unauthorized while .*check PDNS_API_KEY/s,
  },
  {
    provider: "digitalocean",
    secret: "dop_v1_fake0123456789abcdef",
    env: { DIGITALOCEAN_ACCESS_TOKEN: "dop_v1_fake0123456789abcdef" },
    start() {
      const fake = new fakes.DigitalOceanFake({ baseUrl: "https://do.cli.test/v2" });
      server.resetHandlers(...fake.handlers);
      fake.addDomain("example.com");
      for (const s of SEED) fake.addRecord("example.com", s);
      return { baseUrl: fake.baseUrl, revoke: () => (fake.tokens.length = 0) };
    },
    denied: /\[digitalocean\] 401 Unable to authenticate you/,
  },
  {
    provider: "hetzner",
    secret: "hcloud-fake-token-0123456789abcdef",
    env: { HCLOUD_TOKEN: "hcloud-fake-token-0123456789abcdef" },
    start() {
      const fake = new fakes.HetznerFake({ baseUrl: "https://hz.cli.test/v1" });
      server.resetHandlers(...fake.handlers);
      fake.addZone("example.com");
      for (const s of SEED) fake.addRecord("example.com", s);
      return { baseUrl: fake.baseUrl, revoke: () => (fake.tokens.length = 0) };
    },
    denied: /\[hetzner\] 401 unable to authenticate/,
  },
  {
    provider: "route53",
    secret: "fakeSecretKey0123456789abcdefABCDEF012345",
    env: {
      AWS_ACCESS_KEY_ID: "AKIAFAKE0123456789AB",
      AWS_SECRET_ACCESS_KEY: "fakeSecretKey0123456789abcdefABCDEF012345",
    },
    start() {
      const fake = new fakes.Route53Fake({ baseUrl: "https://r53.cli.test" });
      server.resetHandlers(...fake.handlers);
      const zone = fake.addZone("example.com");
      for (const s of SEED) fake.addRecord(zone, s);
      return { baseUrl: fake.baseUrl, revoke: () => (fake.accessKeys.length = 0) };
    },
    denied: /\[route53\] 403 InvalidClientTokenId/,
  },
];

describe.each(cases)("cutover dns on $provider", (c) => {
  it("lists, lowers, swaps, restores from the CLI; a bad credential exits 1 with what to do; the secret is never shown", async () => {
    const fake = c.start();
    const dir = writePlan(`provider: ${c.provider}\nzones: [example.com]\napiUrl: ${fake.baseUrl}\nlowTtl: 300`);
    // Real waits: Route 53 follows its change until INSYNC and keeps under 5 requests/s.
    const run = (...argv: string[]) =>
      runCli(argv, {
        cwd: dir,
        env: c.env,
        now: () => new Date("2027-11-29T10:00:00Z"),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      });
    const outputs: string[] = [];
    const keep = (r: { code: number; stdout: string; stderr: string }) => (outputs.push(r.stdout, r.stderr), r);

    const records = keep(await run("dns", "records"));
    expect(records.code, records.stderr).toBe(0);
    expect(records.stdout).toMatch(/www\.example\.com/);
    const lower = keep(await run("dns", "lower-ttl", "--save-originals", "originals.json"));
    expect(lower.code, lower.stderr).toBe(0);
    expect(lower.stdout).toMatch(/done: 4 applied/);
    const swap = keep(await run("dns", "swap", "--json"));
    expect(swap.code, swap.stderr).toBe(0);
    expect(JSON.parse(swap.stdout)).toMatchObject({ step: "swap", complete: true });
    const again = keep(await run("dns", "swap"));
    expect(again.stdout).toMatch(/done: 0 applied/);
    const restore = keep(await run("dns", "restore", "--originals", "originals.json"));
    expect(restore.code, restore.stderr).toBe(0);
    const after = keep(await run("dns", "records", "--json"));
    // Nothing left on the old address: every target moved.
    expect(JSON.parse(after.stdout)).toMatchObject({ provider: c.provider, targets: [], problems: [] });

    fake.revoke();
    const denied = keep(await run("dns", "rollback", "--originals", "originals.json"));
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(c.denied);
    for (const text of outputs) expect(text).not.toContain(c.secret);
  }, 60_000);
});
