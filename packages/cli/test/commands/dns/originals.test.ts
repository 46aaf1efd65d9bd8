import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../_run.js";
import { writePlan } from "./_fakes.js";

const ZONE = [
  "$ORIGIN example.com.",
  "$TTL 3600",
  "@ IN SOA ns1 hostmaster 2026010101 3600 600 604800 300",
  "@ IN NS ns1",
  "ns1 IN A 192.0.2.53",
  "www 3600 IN A 198.51.100.10",
  "www 3600 IN A 198.51.100.11",
  "mail 3600 IN A 198.51.100.10",
  "",
].join("\n");

function zonePlan(reload = "") {
  const dir = writePlan(
    `provider: zonefile\nzones: [example.com]\nfiles: { example.com: example.com.zone }\nlowTtl: 300${reload ? `\nreload: ${JSON.stringify(reload)}` : ""}`,
  );
  writeFileSync(join(dir, "example.com.zone"), ZONE);
  const run = (...argv: string[]) => runCli(argv, { cwd: dir, env: {}, now: new Date("2027-11-29T10:00:00Z") });
  return { dir, run, zone: () => readFileSync(join(dir, "example.com.zone"), "utf8") };
}

describe("the originals are the records before cutover's first change", () => {
  it("lower-ttl keeps them and says where; swap --save-originals after it saves those, not the lowered TTLs", async () => {
    const { dir, run } = zonePlan();
    const lower = await run("dns", "lower-ttl");
    expect(lower.code, lower.stderr).toBe(0);
    const kept = join(dir, ".cutover/dns-test/dns-originals.json");
    expect(lower.stdout).toContain(`the original records are kept in ${kept}`);
    const swap = await run("dns", "swap", "--save-originals", "orig.json");
    expect(swap.code, swap.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(dir, "orig.json"), "utf8")) as Array<{ name: string; ttl: number }>;
    expect(saved.find((r) => r.name === "mail.example.com")!.ttl).toBe(3600);
    // restore without --originals reads the kept ones: TTL 3600 back, not 300.
    const restore = await run("dns", "restore");
    expect(restore.code, restore.stderr).toBe(0);
    expect(readFileSync(join(dir, "example.com.zone"), "utf8")).toMatch(/mail 3600 IN A 203\.0\.113\.20/);
  });

  it("swap --save-originals after a lower whose originals were not kept refuses; restore of lowered 'originals' refuses", async () => {
    const { dir, run, zone } = zonePlan();
    expect((await run("dns", "lower-ttl")).code).toBe(0);
    rmSync(join(dir, ".cutover"), { recursive: true });
    const before = zone();
    const swap = await run("dns", "swap", "--save-originals", "orig.json");
    expect(swap.code).toBe(1);
    expect(swap.stderr).toContain("already have the low TTL 300");
    expect(zone()).toBe(before);
    expect(existsSync(join(dir, "orig.json"))).toBe(false);
    // A file of lowered TTLs (as the old swap wrote it) is refused as originals.
    expect((await run("dns", "swap")).code).toBe(0);
    const lowered = [
      { id: "x", zone: "example.com", name: "mail.example.com", type: "A", content: "198.51.100.10", ttl: 300 },
    ];
    writeFileSync(join(dir, "low.json"), JSON.stringify(lowered));
    const restore = await run("dns", "restore", "--originals", "low.json");
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain("was saved after the TTLs were lowered");
  });
});

describe("a step is done when the server serves it", () => {
  it("lower-ttl with a failing reload: the rerun runs the reload instead of saying 'nothing to do'", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    // The reload runs in this process's directory: absolute paths.
    const flags = mkdtempSync(join(tmpdir(), "cutover-reload-"));
    const { dir, run } = zonePlan(`test ! -e ${flags}/broken || exit 1; echo {zone} >> ${flags}/reloads`);
    writeFileSync(join(flags, "broken"), "");
    const first = await run("dns", "lower-ttl");
    expect(first.code).toBe(1);
    expect(first.stdout).toContain("reload command failed");
    const again = await run("dns", "lower-ttl");
    expect(again.code).toBe(1);
    expect(existsSync(join(flags, "reloads"))).toBe(false);
    rmSync(join(flags, "broken"));
    const fixed = await run("dns", "lower-ttl");
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toContain("example.com: reloaded (a reload left pending by an earlier attempt)");
    expect(readFileSync(join(flags, "reloads"), "utf8")).toBe("example.com\n");
    expect(dir).toBeTruthy();
  });
});
