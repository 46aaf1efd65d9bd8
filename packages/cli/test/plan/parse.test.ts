import { describe, expect, test } from "vitest";
import { parsePlan } from "../../src/plan/parse.js";
import { planRelayConfig } from "../../src/old-host/relay-config.js";
import { GOOD, NOW } from "./_good-plan.js";
import { PlanError } from "@cutover/core/plan";
import { parseDuration } from "@cutover/core";

function problems(text: string, now = NOW): string[] {
  try {
    parsePlan(text, { file: "cutover.yaml", now });
  } catch (error) {
    if (error instanceof PlanError) return [...error.details];
    throw error;
  }
  return [];
}

describe("parsePlan", () => {
  test("a good plan parses with defaults filled in", () => {
    const { plan, warnings } = parsePlan(GOOD, { file: "cutover.yaml", now: NOW });
    expect(plan.schedule.swapAt.toISOString()).toBe("2027-12-01T14:00:00.000Z");
    expect(plan.schedule.margin).toBe(3_600_000);
    expect(plan.schedule.drain.deadline).toBe(72 * 3_600_000);
    expect(plan.handover.mode).toBe("redirect");
    expect(plan.dns.records).toBe("auto");
    expect(warnings).toEqual([]);
  });

  test("an unknown key names its line and suggests the right one", () => {
    const out = problems(GOOD.replace("  margin: 1h", "  margn: 1h"));
    expect(out).toEqual(['cutover.yaml:11:3 schedule.margn: unknown key "margn"; did you mean "margin"?']);
  });

  test("an unknown top-level key far from any known one lists the keys", () => {
    const out = problems(`${GOOD}zzzzzzzz: 1\n`);
    expect(out[0]).toMatch(/^cutover\.yaml:16:1 zzzzzzzz: unknown key "zzzzzzzz"; expected one of name, old, new, dns/);
  });

  test("a naive swap time is refused as ambiguous, with the fix", () => {
    const out = problems(GOOD.replace("2027-12-01T14:00:00Z", "2027-12-01 14:00"));
    expect(out).toEqual([
      'cutover.yaml:10:11 schedule.swapAt: "2027-12-01 14:00" has no UTC offset, so it is ambiguous; write 2027-12-01T14:00Z or add the offset, e.g. +01:00',
    ]);
  });

  test("an invalid IPv4 and an invalid IPv6 are both reported", () => {
    const out = problems(GOOD.replace("203.0.113.20", "203.0.113.300").replace('"2001:db8::20"', '"2001:db8:::20"'));
    expect(out).toEqual([
      'cutover.yaml:3:14 new.ipv4: "203.0.113.300" is not an IPv4 address (e.g. 203.0.113.20)',
      'cutover.yaml:3:35 new.ipv6: "2001:db8:::20" is not an IPv6 address (e.g. 2001:db8::20)',
    ]);
  });

  test("a duplicate port and a port out of range", () => {
    const out = problems(GOOD.replace("ports: [80, 443]", "ports: [80, 443, 80, 70000]"));
    expect(out).toEqual(["cutover.yaml:15:24 relay.ports[3]: a port is from 1 to 65535"]);
    // Duplicates are a cross-field check: reported once the ports are otherwise valid.
    const dup = problems(GOOD.replace("ports: [80, 443]", "ports: [80, 443, 80]"));
    expect(dup).toEqual([
      "cutover.yaml:15:20 relay.ports[2]: port 80 is listed twice (also at index 0); list each port once",
    ]);
  });

  test("a TTL out of range", () => {
    expect(problems(GOOD.replace("lowTtl: 300", "lowTtl: 0"))).toEqual([
      "cutover.yaml:8:11 dns.lowTtl: a TTL is at least 1 second",
    ]);
    expect(problems(GOOD.replace("lowTtl: 300", "lowTtl: 100000"))[0]).toMatch(/dns\.lowTtl: a low TTL above 86400/);
  });

  test("durations that do not parse, and ones that do", () => {
    const out = problems(GOOD.replace("margin: 1h", "margin: an hour").replace("quiet: 30m", "quiet: 30 minutes"));
    expect(out).toEqual([
      'cutover.yaml:11:11 schedule.margin: "an hour" is not a duration; write it like 90s, 30m, 24h, 1d or 1h30m',
      'cutover.yaml:13:19 schedule.drain.quiet: "30 minutes" is not a duration; write it like 90s, 30m, 24h, 1d or 1h30m',
    ]);
    expect(parseDuration("30m")).toBe(1_800_000);
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("1d")).toBe(86_400_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("1x")).toBeUndefined();
  });

  test("a swap time in the past, relative to now", () => {
    const out = problems(GOOD, new Date("2027-12-02T00:00:00Z"));
    expect(out).toEqual([
      "cutover.yaml:10:11 schedule.swapAt: 2027-12-01T14:00:00Z is in the past (now is 2027-12-02 00:00:00Z); pick a future time",
    ]);
  });

  test("every problem at once, in line order", () => {
    const bad = GOOD.replace("203.0.113.20", "nope")
      .replace("lowTtl: 300", "lowTtll: 300")
      .replace("2027-12-01T14:00:00Z", "2027-12-01T14:00:00")
      .replace("ports: [80, 443]", "ports: [0]");
    const out = problems(bad);
    expect(out).toHaveLength(4);
    expect(out.map((l) => l.split(" ")[0])).toEqual([
      "cutover.yaml:3:14",
      "cutover.yaml:8:3",
      "cutover.yaml:10:11",
      "cutover.yaml:15:11",
    ]);
  });

  test("missing required sections say so", () => {
    const out = problems("name: x\n");
    expect(out.some((l) => /old: is required/.test(l))).toBe(true);
    expect(out.some((l) => /schedule: is required/.test(l))).toBe(true);
  });

  test("YAML syntax errors carry their line", () => {
    const out = problems("name: x\nold: [1, 2\n");
    expect(out[0]).toMatch(/^cutover\.yaml:\d+:\d+ \(yaml\): /);
  });

  test("a relayed port can go to another port on the new host: 80: 8081 or { listen, to }", () => {
    const text = GOOD.replace(
      "ports: [80, 443]",
      "ports: [80: 8081, 443, { listen: 25, to: 2525 }]\n  proxyProtocol: { 80: v1 }",
    );
    const { plan } = parsePlan(text, { file: "c.yaml", now: NOW });
    expect(plan.relay.ports).toEqual([80, 443, 25]);
    expect(plan.relay.targets).toEqual({ "80": 8081, "25": 2525 });
    const config = planRelayConfig(plan, { adminPath: "/run/x.sock", knownHostsPath: "/k" });
    expect(config.listeners.map((l) => (l.kind === "tcp" ? [l.port, l.upstream] : null))).toEqual([
      [80, { kind: "tcp", host: "203.0.113.20", port: 8081 }],
      [443, { kind: "tcp", host: "203.0.113.20", port: 443 }],
      [25, { kind: "tcp", host: "203.0.113.20", port: 2525 }],
    ]);
    expect(problems(GOOD.replace("ports: [80, 443]", "ports: [{ 80: 8081, 81: 8082 }]"))[0]).toMatch(/one port each/);
    expect(problems(GOOD.replace("ports: [80, 443]", "ports: [80: 70000]"))[0]).toMatch(
      /relay\.ports\[0\]\.80: a port is from 1 to 65535/,
    );
    expect(problems(GOOD.replace("ports: [80, 443]", "ports: [80: 8081, 80]"))[0]).toMatch(/port 80 is listed twice/);
  });

  test("port 25 without PROXY protocol warns about the open relay", () => {
    const { warnings } = parsePlan(GOOD.replace("ports: [80, 443]", "ports: [25, 80]"), { file: "c.yaml", now: NOW });
    expect(warnings[0]).toMatch(/mynetworks.*open relay/);
  });

  test("an unknown provider and a zone without a file", () => {
    expect(problems(GOOD.replace("provider: zonefile", "provider: gandi"))[0]).toMatch(
      /dns\.provider: dns\.provider must be one of "zonefile", "cloudflare", "linode", "rfc2136", /,
    );
    expect(problems(GOOD.replace("zones: [example.com]", "zones: [example.com, example.org]"))).toEqual([
      'cutover.yaml:7:10 dns.files: no zone file for example.org; add "example.org: path/to/example.org.zone"',
    ]);
  });
});

describe("provider options (declared by each provider in @cutover/dns's registry)", () => {
  const dns = (lines: string) =>
    GOOD.replace(
      "dns:\n  provider: zonefile\n  zones: [example.com]\n  files: { example.com: zones/example.com.zone }\n",
      `dns:\n${lines}`,
    );

  // The key of another provider was offered as the "did you mean" for itself ('unknown key "serverId"; did
  // you mean "serverId"?'): the suggestions came from every provider's keys.
  test("a bad option, a missing one and one of another provider: each with its line", () => {
    expect(problems(dns("  provider: cloudflare\n  zones: [example.com]\n  accountId: nope\n"))).toEqual([
      "cutover.yaml:7:14 dns.accountId: a Cloudflare account id is 32 hex digits (dashboard → Account ID)",
    ]);
    expect(problems(dns("  provider: rfc2136\n  zones: [example.com]\n  server: 192.0.2.53:99999\n"))).toEqual([
      "cutover.yaml:5:3 dns.keyFile: is required: expected string, received undefined",
      'cutover.yaml:7:11 dns.server: "192.0.2.53:99999" has port 99999, not from 1 to 65535; e.g. 192.0.2.53, ns1.example.com:53 or [2001:db8::53]:53',
    ]);
    expect(problems(dns("  provider: linode\n  zones: [example.com]\n  serverId: x\n"))).toEqual([
      'cutover.yaml:7:3 dns.serverId: unknown key "serverId"; only for dns.provider powerdns',
    ]);
  });

  test("an unknown provider lists every registered one", () => {
    expect(problems(dns("  provider: gandi\n  zones: [example.com]\n"))).toEqual([
      'cutover.yaml:5:13 dns.provider: dns.provider must be one of "zonefile", "cloudflare", "linode", "rfc2136", "powerdns", "route53", "digitalocean" or "hetzner"',
    ]);
  });

  test("each provider's options reach it typed: route53's hosted zone ids, rfc2136's server and key file", () => {
    const { plan } = parsePlan(
      dns("  provider: route53\n  zones: [example.com]\n  hostedZoneIds: { Example.COM: Z0123456789ABC }\n"),
      { file: "cutover.yaml", now: NOW },
    );
    expect(plan.dns.provider === "route53" && plan.dns.hostedZoneIds).toEqual({ "example.com": "Z0123456789ABC" });
  });
});
