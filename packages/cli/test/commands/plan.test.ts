import { mkdtempSync, readFileSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { runCli } from "../_run.js";

const examples = new URL("../../../../examples/", import.meta.url).pathname;
const NOW = "2027-11-29T10:00:00Z";
const lines = (stdout: string) => stdout.split("\n").filter((l) => /^T[-+0]/.test(l));

describe("cutover plan", () => {
  test("prints the example's timeline", async () => {
    const r = await runCli(["plan", "colo-to-linode.yaml", "--now", NOW], { cwd: examples });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe(
      "colo-to-linode: 198.51.100.10, 2001:db8:10::10 → 203.0.113.20, 2001:db8::20  (zonefile: example.com, example.org)",
    );
    expect(lines.filter((l) => l.startsWith("T")).map((l) => l.split(/\s+/).slice(0, 3).join(" "))).toEqual([
      "T-25h 2027-11-30 13:00Z",
      "T-15m 2027-12-01 13:45Z",
      "T0 2027-12-01 14:00Z",
      "T0 2027-12-01 14:00Z",
      "T0 until propagated",
      "T+30m 2027-12-01 14:30Z",
      "T+24h 2027-12-02 14:00Z",
    ]);
    expect(r.stdout).toContain("lower TTL 86400/3600→300 on 9 records in example.com, example.org");
    expect(r.stdout).toMatch(/www\.example\.com\s+A\s+198\.51\.100\.10 → 203\.0\.113\.20\s+ttl 300/);
    // The SPF record is changed at the swap and the restore (listed there), so it is not "not changed by cutover".
    expect(r.stdout).toMatch(/TXT +v=spf1 mx ip4:198\.51\.100\.10 .* → v=spf1 mx ip4:203\.0\.113\.20/);
    const also = r.stdout.slice(r.stdout.indexOf("Also affected (not changed by cutover):"));
    expect(also).toContain("smtp.example.com CNAME mail.example.com");
    expect(also).not.toContain("spf");
    expect(r.stdout).toContain("9 records to move");
  });

  test("a time column has one shape: seconds on every row when any time has them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutover-plan-"));
    cpSync(join(examples, "zones"), join(dir, "zones"), { recursive: true });
    const good = readFileSync(join(examples, "colo-to-linode.yaml"), "utf8");
    writeFileSync(join(dir, "cutover.yaml"), good.replace("  margin: 1h", "  margin: 90s"));
    const r = await runCli(["plan", "--now", NOW], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout).map((l) => l.split(/\s+/).slice(0, 3).join(" "))).toEqual([
      "T-24h1m 2027-11-30 13:58:30Z",
      "T-15m 2027-12-01 13:45:00Z",
      "T0 2027-12-01 14:00:00Z",
      "T0 2027-12-01 14:00:00Z",
      "T0 until propagated",
      "T+30m 2027-12-01 14:30:00Z",
      "T+24h 2027-12-02 14:00:00Z",
    ]);
  });

  test("--json gives the same timeline as data", async () => {
    const r = await runCli(["plan", "colo-to-linode.yaml", "--now", NOW, "--json"], { cwd: examples });
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data.steps.map((s: { kind: string }) => s.kind)).toEqual([
      "lower",
      "preflight",
      "handover",
      "swap",
      "watch",
      "drain",
      "restore",
    ]);
    expect(data.steps[0].at).toBe("2027-11-30T13:00:00.000Z");
    expect(data.targets).toHaveLength(9);
    expect(data.steps[3].changes[0]).toMatchObject({
      name: "example.com",
      type: "A",
      before: { content: "198.51.100.10", ttl: 300 },
      after: { content: "203.0.113.20", ttl: 300 },
    });
    expect(data.rollback).toHaveLength(10);
    expect(data.spf).toHaveLength(1);
  });

  test("shows local times when TZ is set", async () => {
    const r = await runCli(["plan", "colo-to-linode.yaml", "--now", NOW], {
      cwd: examples,
      env: { TZ: "Europe/Berlin" },
    });
    expect(r.stdout).toMatch(/T0 +2027-12-01 14:00Z +\(Wed, 15:00 CET\)/);
  });

  test("too late: exit 1 with the earliest safe swap time", async () => {
    const r = await runCli(["plan", "colo-to-linode.yaml", "--now", "2027-11-30T20:00:00Z"], { cwd: examples });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("earliest safe swap: 2027-12-01T21:00:00Z");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const risky = await runCli(["plan", "colo-to-linode.yaml", "--now", "2027-11-30T20:00:00Z", "--accept-risk"], {
      cwd: examples,
    });
    expect(risky.code).toBe(0);
    expect(risky.stderr).toMatch(/warning: accepted risk/);
    expect(risky.stdout).toContain("RISK ACCEPTED");
  });

  test("a bad plan prints every problem with its line, exit 1, no stack", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutover-plan-"));
    cpSync(join(examples, "zones"), join(dir, "zones"), { recursive: true });
    const good = readFileSync(join(examples, "colo-to-linode.yaml"), "utf8");
    writeFileSync(
      join(dir, "cutover.yaml"),
      good
        .replace("ipv4: 203.0.113.20", "ipv4: 203.0.113.999")
        .replace("swapAt: 2027-12-01T14:00:00Z", "swapAt: 2027-12-01 14:00")
        .replace("  margin: 1h", "  margn: 1h"),
    );
    const r = await runCli(["plan", "--now", NOW], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("  cutover.yaml:"))).toEqual([
      '  cutover.yaml:9:9 new.ipv4: "203.0.113.999" is not an IPv4 address (e.g. 203.0.113.20)',
      '  cutover.yaml:23:11 schedule.swapAt: "2027-12-01 14:00" has no UTC offset, so it is ambiguous; write 2027-12-01T14:00Z or add the offset, e.g. +01:00',
      '  cutover.yaml:24:3 schedule.margn: unknown key "margn"; did you mean "margin"?',
    ]);
  });

  test("a missing plan file says what to do", async () => {
    const r = await runCli(["plan", "nope.yaml"], { cwd: tmpdir() });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: no plan file at nope.yaml; give its path, or run `cutover init` to write one\n");
  });
});
