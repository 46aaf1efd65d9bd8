import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseZoneFile } from "@cutover/dns";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { fastClock, makeMoveDir } from "../../_move.js";
import { runCli } from "../../_run.js";
import * as fakes from "@cutover/testkit/dns-fakes";
import { CF_TOKEN, writePlan } from "./_fakes.js";

/**
 * An RRset of two addresses where only one moves (`pool A 198.51.100.10` and `198.51.100.11`, the second
 * server stays): its one TTL (RFC 2181 §5.2) is lowered and restored on both, the swap replaces only the
 * moving member, every view shows the staying one, and the watch expects the RRset {new, .11}.
 */

const server = fakes.startFakeServer();
afterAll(() => server.close());
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe("an RRset with a member that stays, on a provider that stores records one by one (Cloudflare)", () => {
  it("lowers, swaps and restores the RRset whole; every dns verb shows the staying member", async () => {
    const fake = new fakes.CloudflareFake({ baseUrl: `https://rrset.cf.test/client/v4` });
    server.resetHandlers(...fake.handlers);
    fake.addZone("example.com");
    fake.addRecord("example.com", { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 });
    fake.addRecord("example.com", { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 });
    fake.addRecord("example.com", { name: "other", type: "A", content: "192.0.2.7", ttl: 3600 });
    const dir = writePlan(`provider: cloudflare\nzones: [example.com]\napiUrl: ${fake.baseUrl}\nlowTtl: 300`);
    const run = (...argv: string[]) =>
      runCli(argv, { cwd: dir, env: { CLOUDFLARE_API_TOKEN: CF_TOKEN }, sleep: async () => {} });
    const www = () =>
      fake
        .find("example.com", "www.example.com", "A")
        .map((r) => `${r.content} ${r.ttl}`)
        .sort();

    const records = await run("dns", "records");
    expect(records.code).toBe(0);
    expect(records.stdout).toMatch(
      /www\.example\.com\s+A\s+198\.51\.100\.11\s+ttl 3600\s+│ stays \(same RRset\): lower 3600→300; kept at the swap; restore ttl 3600/,
    );
    const json = JSON.parse((await run("dns", "records", "--json")).stdout);
    expect(json.siblings).toEqual([
      expect.objectContaining({ name: "www.example.com", content: "198.51.100.11", ttl: 3600, lower: { ttl: 300 } }),
    ]);

    const lowerDry = await run("dns", "lower-ttl", "--dry-run");
    expect(lowerDry.stdout).toContain("www.example.com A  198.51.100.11 stays (same RRset), ttl 3600 → 300");
    const lower = await run("dns", "lower-ttl");
    expect(lower.code).toBe(0);
    expect(www()).toEqual(["198.51.100.10 300", "198.51.100.11 300"]);
    // The originals kept beside the journal have the staying member's TTL too.
    const kept = JSON.parse(readFileSync(join(dir, ".cutover/dns-test/dns-originals.json"), "utf8"));
    expect(kept.map((r: { content: string; ttl: number }) => `${r.content} ${r.ttl}`).sort()).toEqual([
      "198.51.100.10 3600",
      "198.51.100.11 3600",
    ]);

    const swapDry = await run("dns", "swap", "--dry-run");
    expect(swapDry.stdout).toContain("www.example.com A  198.51.100.10 → 203.0.113.20, ttl 300");
    expect(swapDry.stdout).toContain("www.example.com A  198.51.100.11 stays (same RRset), ttl 300");
    const swap = await run("dns", "swap");
    expect(swap.code).toBe(0);
    expect(swap.stdout).toMatch(/= already\s+www\.example\.com A {2}198\.51\.100\.11 stays \(same RRset\), ttl 300/);
    expect(www()).toEqual(["198.51.100.11 300", "203.0.113.20 300"]);

    const restore = await run("dns", "restore");
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain("www.example.com A  198.51.100.11 stays (same RRset), ttl 300 → 3600");
    expect(www()).toEqual(["198.51.100.11 3600", "203.0.113.20 3600"]);

    // Rolled back from there: the moving member goes back, the staying one is as it was.
    const rollback = await run("dns", "rollback");
    expect(rollback.code).toBe(0);
    expect(www()).toEqual(["198.51.100.10 3600", "198.51.100.11 3600"]);
    expect(fake.find("example.com", "other.example.com", "A")[0]).toMatchObject({ content: "192.0.2.7", ttl: 3600 });
  });
});

describe("an RRset with a member that stays, in a zone file, through a whole run", () => {
  it("plan and status show it, the watch finishes on the RRset {new, .11}, the originals keep its TTL", async () => {
    const move = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z" });
    cleanup.push(move.close);
    const zoneFile = join(move.dir, "zones/example.com.zone");
    writeFileSync(
      zoneFile,
      `${move.zone("example.com")}pool    IN  A    198.51.100.10\npool    IN  A    198.51.100.11\nv6mail  IN  TXT  "v=spf1 ip6:2001:db8:10::10 -all"\n`,
    );
    const clock = fastClock("2027-11-29T10:00:00Z");
    const cli = (...argv: string[]) => runCli(argv, { cwd: move.dir, now: clock.now, sleep: clock.sleep });
    const pool = () =>
      parseZoneFile(readFileSync(zoneFile, "utf8"), { origin: "example.com" })
        .entries.map((e) => e.record)
        .filter((r) => r.name === "pool.example.com" && r.type === "A")
        .map((r) => `${r.content} ${r.ttl}`)
        .sort();

    const plan = await cli("plan");
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("pool.example.com A 198.51.100.11 stays in the same RRset (its TTL follows)");
    expect(plan.stdout).toMatch(/pool\.example\.com\s+A\s+198\.51\.100\.11\s+ttl 86400 → 300\s+stays \(same RRset\)/);
    expect(plan.stdout).toMatch(/pool\.example\.com\s+A\s+198\.51\.100\.11\s+ttl 300 → 86400\s+stays \(same RRset\)/);
    const planJson = JSON.parse((await cli("plan", "--json")).stdout);
    expect(planJson.siblings).toEqual([
      expect.objectContaining({ name: "pool.example.com", content: "198.51.100.11" }),
    ]);

    const r = await cli("run", "--force");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const state = JSON.parse(readFileSync(join(move.dir, ".cutover/move-test/state.json"), "utf8"));
    expect(
      state.originals
        .filter((o: { name: string }) => o.name === "pool.example.com")
        .map((o: { content: string; ttl: number }) => `${o.content} ${o.ttl}`)
        .sort(),
    ).toEqual(["198.51.100.10 86400", "198.51.100.11 86400"]);
    // The lower wrote the staying member's TTL too; the swap kept it at the low TTL.
    const rows = (kind: string) =>
      state.steps[kind].result.records
        .filter((x: { name: string }) => x.name === "pool.example.com")
        .map(
          (x: { status: string; after: { content: string; ttl: number } }) =>
            `${x.status} ${x.after.content} ${x.after.ttl}`,
        )
        .sort();
    expect(rows("lower")).toEqual(["applied 198.51.100.10 300", "applied 198.51.100.11 300"]);
    expect(rows("swap")).toEqual(["already 198.51.100.11 300", "applied 127.0.0.1 300"]);
    expect(rows("restore")).toEqual(["applied 127.0.0.1 86400", "applied 198.51.100.11 86400"]);
    // The watch saw the RRset it expects and finished; it did not give up at its bound.
    expect(state.steps.watch.status).toBe("done");
    expect(state.steps.watch.result.propagated).toBe(true);
    expect(state.steps.watch.result.gaveUp).toBeUndefined();
    expect(pool()).toEqual(["127.0.0.1 86400", "198.51.100.11 86400"]);

    const status = await cli("status");
    expect(status.stdout).toMatch(
      /pool\.example\.com\s+A\s+original\s+198\.51\.100\.11 ttl 86400\s+stays \(same RRset\)/,
    );
    expect(status.stdout).toMatch(/pool\.example\.com\s+A\s+restored\s+127\.0\.0\.1 ttl 86400/);
    // Every moved record is where the move left it: an SPF record naming only the old IPv6 address too.
    const states = JSON.parse((await cli("status", "--json")).stdout).records.map(
      (x: { name: string; type: string; state: string }) => `${x.name} ${x.type} ${x.state}`,
    );
    expect(states).toContain("v6mail.example.com TXT restored");
    expect(states.filter((x: string) => !x.endsWith(" restored") && !x.startsWith("pool.example.com A "))).toEqual([]);
    // The report's headline names the moved address, not the one that stayed.
    expect((await cli("report", "--out", "move.html")).code).toBe(0);
    const headline = /<ul id="headline">(.*?)<\/ul>/s.exec(readFileSync(join(move.dir, "move.html"), "utf8"))![1]!;
    expect(headline).toMatch(/ from <b>198\.51\.100\.10, 2001:db8:10::10<\/b> to <b>127\.0\.0\.1, 2001:db8::20<\/b>/);
  });
});
