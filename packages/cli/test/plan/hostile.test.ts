import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { parsePlan } from "../../src/plan/parse.js";
import { runCli } from "../_run.js";
import { GOOD, NOW } from "./_good-plan.js";
import { PlanError } from "@cutover/core/plan";

// One test per category of the malformed-plan corpus (issue 14): each failed on the code before it.

/** The problem lines of a plan, or [] if it is accepted; any other exception fails the test. */
function problems(text: string): string[] {
  try {
    parsePlan(text, { file: "p.yaml", now: NOW });
  } catch (error) {
    if (error instanceof PlanError) return [...error.details];
    throw error;
  }
  return [];
}
const warningsOf = (text: string) => parsePlan(text, { file: "p.yaml", now: NOW }).warnings;
const withRelay = (extra: string) => GOOD.replace("  ports: [80, 443]\n", `  ports: [80, 443]\n${extra}`);

describe("oversized durations are plan errors (they crashed date arithmetic)", () => {
  test.each([
    ["margin: 1h", "margin: 100000000d", "schedule.margin"],
    ["margin: 1h", "margin: 9007199254740993s", "schedule.margin"],
    ["restoreTtlAfter: 24h", "restoreTtlAfter: 99999999999999d", "schedule.restoreTtlAfter"],
    ["deadline: 72h", "deadline: 100000000d", "schedule.drain.deadline"],
    ["margin: 1h", "margin: 1h\n  preflightBefore: 100000000d", "schedule.preflightBefore"],
  ])("%s → %s", (from, to, path) => {
    const out = problems(GOOD.replace(from, to));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(new RegExp(`^p\\.yaml:\\d+:\\d+ ${path.replace(/\./g, "\\.")}: ".+" is over a year`));
  });

  test("propagation.timeout too", () => {
    expect(problems(`${GOOD}propagation: { timeout: 100000000d }\n`)[0]).toMatch(
      /propagation\.timeout: .* over a year/,
    );
  });

  test("a year is still accepted", () => {
    expect(problems(GOOD.replace("restoreTtlAfter: 24h", "restoreTtlAfter: 365d"))).toEqual([]);
  });
});

describe("YAML aliases are plan errors with a line", () => {
  const bomb = `a: &a [x,x,x,x,x,x,x,x,x]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
`;
  test("a billion-laughs file at the top", () => {
    expect(problems(`${GOOD}${bomb}`)).toEqual([
      'p.yaml:17:8 (yaml): aliases expand to too much (a YAML "billion laughs"); write the values out, or use at most 50 aliases',
    ]);
  });
  test("inside an unknown key and inside stopServices", () => {
    expect(problems(`${GOOD}zz:\n${bomb.replace(/^/gm, "  ")}`)[0]).toMatch(
      /^p\.yaml:\d+:\d+ \(yaml\): aliases expand/,
    );
    const inServices = `s: &s [x,x,x,x,x,x,x,x]\n${GOOD}handover:\n  stopServices: [${Array(60).fill("*s").join(", ")}]\n`;
    expect(problems(inServices)[0]).toMatch(/^p\.yaml:\d+:\d+ \(yaml\): aliases expand/);
  });
  test("a chain of 1000 aliases", () => {
    const chain = `a0: &a0 x\n${Array.from({ length: 1000 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}]`).join("\n")}\n`;
    expect(problems(`${GOOD}${chain}`)[0]).toMatch(/^p\.yaml:\d+:\d+ \(yaml\): aliases expand/);
  });
  test("an alias to an anchor never set", () => {
    expect(problems(`${GOOD}zz: *nowhere\n`)).toEqual([
      "p.yaml:16:5 (yaml): Unresolved alias (the anchor must be set before the alias): nowhere",
    ]);
  });
});

describe("size, depth and problem count are bounded", () => {
  test("20,000 unknown keys: 50 problems listed, the rest counted (the check was quadratic: 32 s)", () => {
    const out = problems(`${GOOD}${Array.from({ length: 20_000 }, (_, i) => `k${i}: 1`).join("\n")}\n`);
    expect(out).toHaveLength(51);
    expect(out[0]).toMatch(/^p\.yaml:16:1 k0: unknown key "k0"; expected one of name, old, new, dns, schedule/);
    expect(out[50]).toBe("... and 19950 more problems (fix these first)");
  });
  test("a key given twice is an error (it was rejected quadratically by the YAML reader)", () => {
    expect(problems(GOOD.replace("  margin: 1h\n", "  margin: 1h\n  margin: 2h\n"))).toEqual([
      'p.yaml:12:3 schedule: "margin" is given twice in this mapping (also on line 11); give it once',
    ]);
  });
  test("a plan over 1 MiB is refused before it is parsed", () => {
    expect(problems(`${GOOD}zz: ${"a".repeat(1_200_000)}\n`)).toEqual([
      "p.yaml:1:1 (file): the file is 1.1 MiB; a plan file is at most 1 MiB",
    ]);
  });
  test("nesting 100,000 deep, as flow or as block, is refused before it is parsed", () => {
    expect(problems(`${GOOD}x: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`)).toEqual([
      "p.yaml:16:67 (yaml): nested more than 64 levels deep; a plan needs 5 or 6",
    ]);
    const block = Array.from({ length: 100 }, (_, i) => `${" ".repeat(i)}k:`).join("\n");
    expect(problems(`${GOOD}${block} 1\n`)[0]).toMatch(/^p\.yaml:\d+:\d+ \(yaml\): nested more than 64 levels/);
    // Brackets in quotes, comments and block scalars are not nesting.
    const text = `${GOOD}propagation: # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n  resolvers: ["${"[".repeat(80)}"]\n`;
    expect(problems(text)[0]).toMatch(/resolvers\[0\]/);
  });
});

describe("fields that were accepted although wrong", () => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "relay.listen: 999.1.1.1",
      withRelay("  listen: 999.1.1.1\n"),
      /relay\.listen: "999\.1\.1\.1" is not an IP address/,
    ],
    ["relay.listen: a shell string", withRelay("  listen: ;rm -rf /\n"), /relay\.listen: ";rm -rf \/" is not an IP/],
    [
      "a socket's to.host: 999.1.1.1",
      withRelay("  sockets:\n    - listen: /run/m.sock\n      to: { host: 999.1.1.1, port: 3306 }\n"),
      /relay\.sockets\[0\]\.to\.host: "999\.1\.1\.1" is not a host/,
    ],
    [
      "a socket's to.host: ;rm -rf /",
      withRelay("  sockets:\n    - listen: /run/m.sock\n      to: { host: ';rm -rf /', port: 3306 }\n"),
      /to\.host: ";rm -rf \/" is not a host/,
    ],
    [
      "a resolver that is not an address",
      `${GOOD}propagation: { resolvers: [resolver.example] }\n`,
      /resolvers\[0\]: resolver\.example is not an IP address/,
    ],
    [
      "a resolver IP:PORT over 65535",
      `${GOOD}propagation: { resolvers: ["9.9.9.9:70000"] }\n`,
      /resolvers\[0\]: 9\.9\.9\.9:70000: port 70000 is out of range/,
    ],
    [
      "a resolver that is not a URL",
      `${GOOD}propagation: { resolvers: ["ftp://x/dns-query"] }\n`,
      /resolvers\[0\]: ftp:\/\/x\/dns-query is not an IP/,
    ],
    [
      "propagation.authoritative.nsAddresses",
      `${GOOD}propagation: { authoritative: { nsAddresses: { ns1.example.com: [ns1.example.com] } } }\n`,
      /nsAddresses\.ns1\.example\.com\[0\]: ns1\.example\.com is not an IP address/,
    ],
    [
      "propagation.authoritative.bootstrap",
      `${GOOD}propagation: { authoritative: { bootstrap: "https://dns.google/dns-query" } }\n`,
      /bootstrap: "https:\/\/dns\.google\/dns-query": give IP or IP:PORT here, not a URL/,
    ],
    [
      "old.ipv6 with a zone id",
      GOOD.replace("ssh: root@198.51.100.10 }", 'ssh: root@198.51.100.10, ipv6: "fe80::1%eth0" }'),
      /old\.ipv6: fe80::1%eth0 has a zone id/,
    ],
    [
      "a service named -rf",
      `${GOOD}handover: { stopServices: [postfix, -rf] }\n`,
      /stopServices\[1\]: a service is a plain unit name .* not starting with -/,
    ],
    [
      "a service named --now",
      `${GOOD}handover: { stopServices: ["--now"] }\n`,
      /stopServices\[0\]: .* not starting with -/,
    ],
    [
      "dns.apiUrl: javascript:",
      GOOD.replace("  lowTtl: 300", "  lowTtl: 300\n  apiUrl: 'javascript:alert(1)'"),
      /dns\.apiUrl: "javascript:alert\(1\)" is not an http/,
    ],
    [
      "dns.apiUrl: file:",
      GOOD.replace("  lowTtl: 300", "  lowTtl: 300\n  apiUrl: file:///etc/passwd"),
      /dns\.apiUrl: "file:\/\/\/etc\/passwd" is not an http/,
    ],
    [
      "an SSH target with port 99999",
      GOOD.replace("ssh: root@198.51.100.10", "ssh: root@host:99999"),
      /old\.ssh: "root@host:99999" has port 99999, not from 1 to 65535/,
    ],
    [
      "drain.quiet longer than drain.deadline",
      GOOD.replace("deadline: 72h", "deadline: 10m"),
      /schedule\.drain\.deadline: 10m is shorter than drain\.quiet \(30m\)/,
    ],
    [
      "__proto__ under relay.proxyProtocol",
      withRelay("  proxyProtocol: { __proto__: v1 }\n"),
      /relay\.proxyProtocol: "__proto__" cannot be a key/,
    ],
    [
      "__proto__ under dns.files",
      GOOD.replace(
        "files: { example.com: zones/example.com.zone }",
        "files: { example.com: zones/example.com.zone, __proto__: x }",
      ),
      /dns\.files: "__proto__" cannot be a key/,
    ],
  ];
  test.each(cases)("%s", (_name, text, expected) => {
    const out = problems(text);
    expect(
      out.some((l) => /^p\.yaml:\d+:\d+ /.test(l) && expected.test(l)),
      out.join("\n"),
    ).toBe(true);
  });

  test("what is right is still accepted", () => {
    const text = withRelay(
      "  listen: '::'\n  sockets:\n    - listen: /run/m.sock\n      to: { via: ssh, host: db.internal, port: 3306 }\n",
    ).concat(
      'propagation:\n  resolvers: [9.9.9.9, "127.0.0.1:5353", "[::1]:5353", "https://dns.google/dns-query"]\n',
      "  authoritative: { bootstrap: 127.0.0.1, nsAddresses: { ns1.example.com: [192.0.2.53, '[2001:db8::53]:53'] } }\n",
      "handover: { stopServices: [postfix, mariadb.service, getty@tty1], stopCommand: [kill, -TERM, '{service}'] }\n",
    );
    expect(problems(text.replace("ssh: root@198.51.100.10", "ssh: 'admin@[2001:db8::10]:2222'"))).toEqual([]);
  });
});

describe("timeline settings that defeat the relay", () => {
  test("drain.quiet 0s is refused: the relay would drain at T0", () => {
    expect(problems(GOOD.replace("quiet: 30m", "quiet: 0s"))).toEqual([
      "p.yaml:13:19 schedule.drain.quiet: 0s would drain the relay at the swap, refusing every client that still has the old address; give the quiet time to wait for, e.g. 30m",
    ]);
  });
  test("restoreTtlAfter 0s is refused", () => {
    expect(problems(GOOD.replace("restoreTtlAfter: 24h", "restoreTtlAfter: 0s"))[0]).toMatch(
      /^p\.yaml:12:20 schedule\.restoreTtlAfter: 0s would put the long TTL back at the swap itself/,
    );
  });
  test("restoreTtlAfter shorter than the drain is a warning with the consequence", () => {
    expect(warningsOf(GOOD.replace("restoreTtlAfter: 24h", "restoreTtlAfter: 10m"))).toEqual([
      "schedule.restoreTtlAfter (10m) comes before the relay can drain (drain.quiet 30m at the earliest): a rollback after T+10m takes up to the old TTL to reach every cache",
    ]);
  });
  test("drain.quiet shorter than the low TTL is a warning", () => {
    expect(
      warningsOf(GOOD.replace("quiet: 30m", "quiet: 1m").replace("restoreTtlAfter: 24h", "restoreTtlAfter: 24h")),
    ).toEqual([
      "schedule.drain.quiet (1m) is shorter than dns.lowTtl (300s): a lull in traffic may drain the relay while resolvers still hand out the old address, and those clients are refused",
    ]);
  });
  test("the example's settings give no warning", () => {
    expect(warningsOf(GOOD)).toEqual([]);
  });
});

describe("files that are not regular files are refused before they are read", () => {
  const examples = new URL("../../../../examples/", import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), `cutover-hostile-${process.pid}-`));
  cpSync(join(examples, "zones"), join(dir, "zones"), { recursive: true });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const good = readFileSync(join(examples, "colo-to-linode.yaml"), "utf8");

  test("a zone file of /dev/urandom is a plan error with its line (it was read for 20 s)", async () => {
    writeFileSync(join(dir, "u.yaml"), good.replace("zones/example.org.zone", "/dev/urandom"));
    const r = await runCli(["plan", "u.yaml", "--now", NOW.toISOString()], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "u.yaml:18:18 dns.files.example.org: /dev/urandom is a character device, not a regular file",
    );
  }, 15_000);

  test("a plan file that is a device, a directory or over 1 MiB", async () => {
    const dev = await runCli(["plan", "/dev/zero"], { cwd: dir });
    expect(dev).toMatchObject({ code: 1, stderr: "error: /dev/zero is a character device, not a plan file\n" });
    const d = await runCli(["plan", "zones"], { cwd: dir });
    expect(d).toMatchObject({ code: 1, stderr: "error: zones is a directory, not a plan file\n" });
    writeFileSync(join(dir, "big.yaml"), `${good}# ${"x".repeat(2 * 1024 * 1024)}\n`);
    const big = await runCli(["plan", "big.yaml"], { cwd: dir });
    expect(big).toMatchObject({ code: 1, stderr: "error: big.yaml is 2.0 MiB; a plan file is at most 1 MiB\n" });
  }, 15_000);
});
