import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parsePlan } from "../../src/plan/parse.js";
import { runCli } from "../_run.js";

const NOW = new Date("2027-11-29T10:17:00Z");

test("init writes a plan that validates, for every provider, and never overwrites by accident", async () => {
  for (const provider of [
    "zonefile",
    "cloudflare",
    "linode",
    "rfc2136",
    "powerdns",
    "route53",
    "digitalocean",
    "hetzner",
  ]) {
    const dir = mkdtempSync(join(tmpdir(), "cutover-init-"));
    const r = await runCli(["init", "--provider", provider], { cwd: dir, now: NOW });
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, "cutover.yaml"), "utf8");
    const { plan } = parsePlan(text, { file: "cutover.yaml", now: NOW });
    expect(plan.dns.provider).toBe(provider);
    expect(plan.schedule.swapAt.toISOString()).toBe("2027-12-01T11:00:00.000Z");
    const again = await runCli(["init"], { cwd: dir, now: NOW });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("cutover.yaml exists already");
  }
});

test("init explains each new provider's credential and its least permissions", async () => {
  const expected: Record<string, RegExp[]> = {
    powerdns: [/PDNS_API_KEY/, /webserver-allow-from/],
    route53: [
      /AWS_PROFILE/,
      /route53:ListHostedZonesByName, ListResourceRecordSets, ChangeResourceRecordSets/,
      /GetChange/,
    ],
    digitalocean: [/DIGITALOCEAN_ACCESS_TOKEN/, /domain:read, domain:update/],
    hetzner: [/HCLOUD_TOKEN/, /Read & Write/],
  };
  for (const [provider, lines] of Object.entries(expected)) {
    const r = await runCli(["init", "--provider", provider, "--dry-run"], { now: NOW });
    expect(r.code).toBe(0);
    for (const line of lines) expect(r.stdout).toMatch(line);
  }
});
