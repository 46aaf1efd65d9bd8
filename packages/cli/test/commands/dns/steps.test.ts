import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import * as fakes from "@cutover/testkit/dns-fakes";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../_run.js";
import { CF_TOKEN, LI_TOKEN, writePlan } from "./_fakes.js";

const server = fakes.startFakeServer();
afterAll(() => server.close());
const fastSleep = async () => {};
let n = 0;

function cloudflare(records: Array<{ name: string; type: string; content: string; ttl?: number; proxied?: boolean }>) {
  const fake = new fakes.CloudflareFake({ baseUrl: `https://cmd${++n}.cf.test/client/v4` });
  server.resetHandlers(...fake.handlers);
  fake.addZone("example.com");
  for (const r of records) fake.addRecord("example.com", r);
  const dir = writePlan(`provider: cloudflare\nzones: [example.com]\napiUrl: ${fake.baseUrl}\nlowTtl: 300`);
  const run = (...argv: string[]) =>
    runCli(argv, { cwd: dir, env: { CLOUDFLARE_API_TOKEN: CF_TOKEN }, sleep: fastSleep });
  return { fake, dir, run };
}

/** A record as the provider reads it from the fake: Cloudflare's automatic TTL (1) is 300 s. */
function asRead(fake: fakes.CloudflareFake, id: string) {
  const r = fake.list("example.com").find((x) => x.id === id)!;
  return { content: r.content, ttl: r.ttl === 1 ? 300 : r.ttl };
}

const SEED = [
  { name: "@", type: "A", content: "198.51.100.10", ttl: 3600 },
  { name: "www", type: "A", content: "198.51.100.10", ttl: 86400 },
  { name: "www", type: "AAAA", content: "2001:db8::10", ttl: 86400 },
  { name: "cdn", type: "A", content: "198.51.100.10", proxied: true },
  { name: "app", type: "A", content: "198.51.100.10", ttl: 1 },
  { name: "other", type: "A", content: "192.0.2.7", ttl: 3600 },
  { name: "@", type: "MX", content: "10 www.example.com", ttl: 3600 },
  { name: "@", type: "TXT", content: "v=spf1 ip4:198.51.100.10 -all", ttl: 3600 },
];

describe("cutover dns records", () => {
  it("lists the targets with their TTLs and what each step does, proxied and automatic TTLs included", async () => {
    const { run } = cloudflare(SEED);
    const r = await run("dns", "records");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/example\.com on cloudflare: 5 record\(s\) move from 198\.51\.100\.10, 2001:db8::10/);
    expect(r.stdout).toMatch(
      /www\.example\.com\s+A\s+198\.51\.100\.10\s+ttl 86400 .*lower 86400→300; swap → 203\.0\.113\.20; restore ttl 86400/,
    );
    expect(r.stdout).toMatch(
      /cdn\.example\.com .*proxied: no TTL to lower; swap → 203\.0\.113\.20 \(instant for clients\)/,
    );
    // Cloudflare's automatic TTL (ttl: 1, 300 s in effect) is called "auto", as its dashboard does; proxied too.
    expect(r.stdout).toMatch(/app\.example\.com .*ttl auto .*ttl auto \(300 s\) already ≤ 300/);
    expect(r.stdout).toMatch(/cdn\.example\.com\s+A\s+198\.51\.100\.10\s+ttl auto /);
    expect(r.stdout).toMatch(
      /SPF ttl 3600: swap → "v=spf1 ip4:198\.51\.100\.10 ip4:203\.0\.113\.20 -all"; restore → "v=spf1 ip4:203\.0\.113\.20 -all"/,
    );
    expect(r.stdout).toMatch(
      /note: example\.com MX 10 www\.example\.com: mail for example\.com goes to www\.example\.com, which moves/,
    );
    const j = JSON.parse((await run("dns", "records", "--json")).stdout);
    expect(
      j.targets.find((t: { name: string; type: string }) => t.name === "www.example.com" && t.type === "A"),
    ).toMatchObject({
      ttl: 86400,
      lower: { ttl: 300 },
      swap: { content: "203.0.113.20", ttl: 300 },
      restore: { ttl: 86400 },
    });
  });
});

describe("cutover dns lower-ttl | swap | restore | rollback on Cloudflare", () => {
  let w: ReturnType<typeof cloudflare>;
  beforeEach(() => {
    w = cloudflare(SEED);
  });

  it("--dry-run shows every change and writes nothing", async () => {
    const r = await w.run("dns", "swap", "--dry-run");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/swap: 6 record\(s\) in example\.com \(cloudflare\) \(dry run, nothing written\)/);
    expect(r.stdout).toMatch(/→ would\s+www\.example\.com A\s+198\.51\.100\.10 → 203\.0\.113\.20, ttl 86400 → 300/);
    expect(r.stdout).toMatch(/cdn\.example\.com A .*proxied: clients see the change at once/);
    expect(w.fake.writes()).toEqual([]);
  });

  it("runs the whole move step by step, each verified, reruns do nothing, originals give TTL 1 back", async () => {
    const lower = await w.run("dns", "lower-ttl", "--save-originals", "originals.json");
    expect(lower.code).toBe(0);
    expect(lower.stdout).toMatch(/✓ applied\s+www\.example\.com A\s+ttl 86400 → 300/);
    expect(lower.stdout).toMatch(/done: 4 applied, 0 already done/);
    expect(statSync(join(w.dir, "originals.json")).mode & 0o777).toBe(0o600);
    expect(w.fake.find("example.com", "www", "A")[0]!.ttl).toBe(300);

    const swap = await w.run("dns", "swap", "--json");
    expect(swap.code).toBe(0);
    const j = JSON.parse(swap.stdout);
    expect(j).toMatchObject({ step: "swap", complete: true });
    expect(j.outcomes.every((o: { status: string }) => o.status === "applied")).toBe(true);
    expect(w.fake.find("example.com", "cdn", "A")[0]).toMatchObject({ content: "203.0.113.20", proxied: true });
    expect(w.fake.list("example.com").filter((r) => r.type === "TXT")[0]!.content).toBe(
      "v=spf1 ip4:198.51.100.10 ip4:203.0.113.20 -all",
    );

    const again = await w.run("dns", "swap");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/= already\s+example\.com TXT/);
    expect(again.stdout).toMatch(/done: 0 applied, 1 already done/);

    const restore = await w.run("dns", "restore", "--originals", "originals.json");
    expect(restore.code).toBe(0);
    expect(w.fake.find("example.com", "www", "A")[0]).toMatchObject({ content: "203.0.113.20", ttl: 86400 });
    expect(w.fake.find("example.com", "app", "A")[0]).toMatchObject({ content: "203.0.113.20", ttl: 1 });
    expect(w.fake.list("example.com").filter((r) => r.type === "TXT")[0]!.content).toBe("v=spf1 ip4:203.0.113.20 -all");

    const back = await w.run("dns", "rollback", "--originals", "originals.json");
    expect(back.code, back.stderr).toBe(0);
    expect(w.fake.find("example.com", "www", "AAAA")[0]).toMatchObject({ content: "2001:db8::10", ttl: 86400 });
    expect(w.fake.find("example.com", "other", "A")[0]!.content).toBe("192.0.2.7");
  });

  it("rolls back from the originals kept beside the journal; without them, from the plan's addresses, keeping the current TTL", async () => {
    await w.run("dns", "swap");
    const kept = await w.run("dns", "rollback");
    expect(kept.code, kept.stderr).toBe(0);
    expect(w.fake.find("example.com", "www", "A")[0]).toMatchObject({ content: "198.51.100.10", ttl: 86400 });
    await w.run("dns", "swap");
    rmSync(join(w.dir, ".cutover"), { recursive: true });
    const r = await w.run("dns", "rollback");
    expect(r.code, r.stderr).toBe(0);
    expect(w.fake.find("example.com", "www", "A")[0]).toMatchObject({ content: "198.51.100.10", ttl: 300 });
    expect(w.fake.list("example.com").filter((x) => x.type === "TXT")[0]!.content).toBe(
      "v=spf1 ip4:198.51.100.10 -all",
    );
    const restore = await w.run("dns", "restore");
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(/restore needs the original TTLs: pass --originals FILE .* or --ttl SECONDS/);
  });

  it("rollback --dry-run shows each record as it is now (after a restore: the original TTL, the restored SPF)", async () => {
    await w.run("dns", "swap", "--save-originals", "originals.json");
    expect((await w.run("dns", "restore", "--originals", "originals.json")).code).toBe(0);
    const writes = w.fake.writes().length;
    const r = await w.run("dns", "rollback", "--dry-run");
    expect(r.code, r.stderr).toBe(0);
    // Not "ttl 300 → 86400": the restore gave the TTL back already; only the address goes back.
    expect(r.stdout).toMatch(/→ would\s+www\.example\.com A\s+203\.0\.113\.20 → 198\.51\.100\.10, ttl 86400\n/);
    expect(r.stdout).toMatch(
      /→ would\s+example\.com TXT\s+v=spf1 ip4:203\.0\.113\.20 -all → v=spf1 ip4:198\.51\.100\.10 -all, ttl 3600\n/,
    );
    const j = JSON.parse((await w.run("dns", "rollback", "--dry-run", "--json")).stdout);
    for (const c of j.changes as Array<{ id: string; before: { content: string; ttl: number } }>)
      expect(c.before).toEqual(asRead(w.fake, c.id));
    expect(w.fake.writes()).toHaveLength(writes);
    // Someone else changed a record: the dry run says so, as the run would (it leaves it alone).
    Object.assign(w.fake.find("example.com", "www", "A")[0]!, { content: "192.0.2.99", ttl: 60 });
    expect((await w.run("dns", "rollback")).code).toBe(1);
    const after = await w.run("dns", "rollback", "--dry-run", "--json");
    const statuses = JSON.parse(after.stdout).changes.map(
      (c: { name: string; type: string; status: string }) => `${c.name} ${c.type} ${c.status}`,
    );
    expect(statuses).toContain("www.example.com A conflict");
    expect(
      statuses.filter((x: string) => !x.startsWith("www.example.com A ")).every((x: string) => x.endsWith(" already")),
    ).toBe(true);
    expect((await w.run("dns", "rollback", "--dry-run")).stdout).toMatch(
      /! conflict www\.example\.com A .*: now 192\.0\.2\.99 ttl 60; changed by someone else, would be left alone/,
    );
  });

  it("the dry run of each verb shows the change sets the timeline plans (one planner)", async () => {
    const plan = JSON.parse((await w.run("plan", "--json")).stdout);
    const stepOf = (kind: string) => plan.steps.find((s: { kind: string }) => s.kind === kind).changes;
    const dry = async (verb: string) =>
      JSON.parse((await w.run("dns", verb, "--dry-run", "--json")).stdout).changes.map(
        ({ status, ...c }: { status: string }) => {
          expect(status).toBe("planned");
          return c;
        },
      );
    // The drop starts from the zone as it is, as the timeline plans it.
    expect(await dry("lower-ttl")).toEqual(stepOf("lower"));
    // The swap now (no drop before it) starts from the TTLs as they are; the timeline's, from the dropped ones.
    const swap = await dry("swap");
    expect(swap.map((c: { before: unknown }) => ({ ...c, before: undefined }))).toEqual(
      stepOf("swap").map((c: { before: unknown }) => ({ ...c, before: undefined })),
    );
    for (const c of swap as Array<{ id: string; before: { content: string; ttl: number } }>)
      expect(c.before).toEqual(asRead(w.fake, c.id));
  });

  it("exits 1 with a per-record account when a batch keeps failing, and a rerun finishes", async () => {
    w.fake.switches.faults = (r) => (r.method === "POST" ? { kind: "status", status: 503 } : undefined);
    const r = await w.run("dns", "swap");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /✗ failed\s+www\.example\.com A\s+198\.51\.100\.10 → 203\.0\.113\.20.*: \[cloudflare\] 503 /,
    );
    expect(r.stdout).toMatch(/Cloudflare did not answer cleanly; run the same command again/);
    expect(r.stdout).toMatch(/incomplete: 0 applied, 0 already done, 6 failed/);
    expect(r.stderr).toMatch(/run the same command again: it only does what is missing/);
    expect(w.fake.find("example.com", "www", "A")[0]!.content).toBe("198.51.100.10");
    w.fake.switches.faults = undefined;
    const again = await w.run("dns", "swap");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/done: 6 applied/);
  });

  it("refuses a change larger than dns.maxChanges without --force", async () => {
    for (let i = 0; i < 25; i++)
      w.fake.addRecord("example.com", { name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 });
    const r = await w.run("dns", "swap");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing a large change; check it with --dry-run, then run again with --force/);
    expect(r.stderr).toMatch(/swap changes 31 records, more than dns\.maxChanges \(20\)/);
    expect(w.fake.writes()).toEqual([]);
    const forced = await w.run("dns", "swap", "--force");
    expect(forced.code).toBe(0);
  });

  it("never prints or hands over the token: success, failure, bad token, JSON and the originals file", async () => {
    const outputs: string[] = [];
    const keep = (r: { stdout: string; stderr: string }) => outputs.push(r.stdout, r.stderr);
    keep(await w.run("dns", "records", "--json"));
    keep(await w.run("dns", "lower-ttl", "--json", "--save-originals", "o.json"));
    w.fake.switches.faults = () => ({ kind: "status", status: 500 });
    keep(await w.run("dns", "swap", "--json"));
    keep(await w.run("dns", "swap"));
    w.fake.switches.faults = undefined;
    w.fake.tokens[CF_TOKEN] = "read";
    keep(await w.run("dns", "swap"));
    delete w.fake.tokens[CF_TOKEN];
    const bad = await w.run("dns", "swap");
    keep(bad);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[cloudflare\] 403 Invalid access token \(9109\)/);
    expect(bad.stderr).toMatch(/check CLOUDFLARE_API_TOKEN/);
    outputs.push(readFileSync(join(w.dir, "o.json"), "utf8"));
    for (const text of outputs) expect(text).not.toContain(CF_TOKEN);
    const missing = await runCli(["dns", "swap"], { cwd: w.dir, env: {} });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\[cloudflare\] no API token: set CLOUDFLARE_API_TOKEN/);
  });
});

describe("cutover dns on Linode", () => {
  let fake: fakes.LinodeFake;
  let dir: string;
  beforeAll(() => {
    fake = new fakes.LinodeFake({ baseUrl: "https://cmd.linode.test/v4" });
  });
  beforeEach(() => {
    server.resetHandlers(...fake.handlers);
  });

  it("swaps with TTL steps and sets reverse DNS for the new address", async () => {
    fake.addDomain("example.com");
    fake.addRecord("example.com", { name: "", type: "A", target: "198.51.100.10", ttl_sec: 0 });
    fake.addRecord("example.com", { name: "mail", type: "A", target: "198.51.100.10", ttl_sec: 3600 });
    fake.addIp("203.0.113.20");
    dir = writePlan(
      `provider: linode\nzones: [example.com]\napiUrl: ${fake.baseUrl}\nlowTtl: 250`,
      ", rdns: mail.example.com",
    );
    const run = (...argv: string[]) => runCli(argv, { cwd: dir, env: { LINODE_TOKEN: LI_TOKEN }, sleep: fastSleep });
    const lower = await run("dns", "lower-ttl", "--dry-run");
    expect(lower.stdout).toMatch(/ttl 86400 → 300 +\(TTL 250 snapped to 300/);
    expect((await run("dns", "lower-ttl")).code).toBe(0);
    const swap = await run("dns", "swap");
    expect(swap.code, swap.stderr).toBe(0);
    expect(swap.stdout).toMatch(/✓ rdns\s+203\.0\.113\.20 → mail\.example\.com/);
    expect(swap.stderr).toMatch(/new\.rdns: mail\.example\.com has no AAAA record moving to 2001:db8::20/);
    expect(fake.ips.get("203.0.113.20")!.rdns).toBe("mail.example.com");
    const restore = await run("dns", "restore", "--ttl", "3600", "--json");
    expect(restore.code).toBe(0);
    expect(fake.find("example.com", "mail", "A")[0]).toMatchObject({ target: "203.0.113.20", ttl_sec: 3600 });
    expect(restore.stdout).not.toContain(LI_TOKEN);
  });
});

describe("cutover dns on zone files", () => {
  it("swaps in the file (serial bumped) and rolls back from the saved originals", async () => {
    const { writeFileSync } = await import("node:fs");
    const dir = writePlan(
      `provider: zonefile\nzones: [example.com]\nfiles: { example.com: example.com.zone }\nlowTtl: 300`,
    );
    const zone = join(dir, "example.com.zone");
    writeFileSync(
      zone,
      [
        "$ORIGIN example.com.",
        "$TTL 3600",
        "@ IN SOA ns1 hostmaster 2026010101 3600 600 604800 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.53",
        "www 86400 IN A 198.51.100.10 ; the web server",
        "",
      ].join("\n"),
    );
    const run = (...argv: string[]) => runCli(argv, { cwd: dir, env: {} });
    const swap = await run("dns", "swap", "--save-originals", "orig.json");
    expect(swap.code, swap.stderr).toBe(0);
    const text = readFileSync(zone, "utf8");
    expect(text).toMatch(/www 300 IN A 203\.0\.113\.20 ; the web server/);
    expect(text).toMatch(/2026010102|20\d{6}\d\d/);
    const back = await run("dns", "rollback", "--originals", "orig.json", "--json");
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout).complete).toBe(true);
    expect(readFileSync(zone, "utf8")).toMatch(/www 86400 IN A 198\.51\.100\.10 ; the web server/);
  });
});
