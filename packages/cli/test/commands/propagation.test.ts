import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startAuthoritativeServer, type AuthoritativeServer } from "@cutover/dns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deps } from "../../src/context.js";
import { main } from "../../src/main.js";

const OLD = "198.51.100.10";
const NEW = "203.0.113.20";
const zone = (serial: number, addr: string) => `$ORIGIN example.test.
$TTL 30
@ IN SOA ns1.example.test. hostmaster.example.test. ${serial} 3600 600 86400 5
@ IN NS ns1.example.test.
ns1 IN A 127.0.0.1
www IN A ${addr}
`;

/** Runs the CLI in-process with a clock that moves only when the command sleeps. */
async function run(argv: string[], options: { tty?: boolean; cwd?: string } = {}) {
  let stdout = "";
  let stderr = "";
  let t = Date.parse("2027-12-01T14:00:00Z");
  const deps: Deps = {
    stdout: { write: (s: string) => ((stdout += s), true), isTTY: options.tty === true, columns: 120 },
    stderr: { write: (s: string) => ((stderr += s), true), isTTY: false },
    env: { NO_COLOR: "1" },
    cwd: options.cwd ?? process.cwd(),
    now: () => new Date(t),
    sleep: async (ms) => {
      t += ms;
    },
  };
  const code = await main(argv, deps);
  return { code, stdout, stderr };
}

let dir: string;
let auth: AuthoritativeServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cutover-cli-prop-"));
  await writeFile(join(dir, "example.test.zone"), zone(1, OLD));
  auth = await startAuthoritativeServer({
    zoneFiles: [join(dir, "example.test.zone")],
    listen: "127.0.0.1:0",
    watch: false,
  });
});
afterAll(async () => {
  await auth?.close();
  await rm(dir, { recursive: true, force: true });
});

const setZone = async (serial: number, addr: string) => {
  await writeFile(join(dir, "example.test.zone"), zone(serial, addr));
  await auth.reload();
};
const common = () => [
  "--resolvers",
  auth.address,
  "--bootstrap",
  auth.address,
  "--parent",
  auth.address,
  "--ns",
  `ns1.example.test=${auth.address}`,
];

describe("cutover propagation", () => {
  it("exits 1 with the stale resolver and the authoritative lag named while the old address is served", async () => {
    await setZone(1, OLD);
    const r = await run(["propagation", "www.example.test", "--expect", NEW, "--old", OLD, ...common()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("authoritative not in sync");
    expect(r.stdout).toMatch(
      new RegExp(`OLD ${auth.address.replace(/\./g, "\\.")} www\\.example\\.test A: ${OLD} ttl 30`),
    );
    expect(r.stdout).toContain("not yet propagated");
  });

  it("exits 0 after two all-NEW rounds, and writes the JSON report", async () => {
    await setZone(2, NEW);
    const r = await run(["propagation", "www.example.test", "--expect", NEW, "--old", OLD, ...common(), "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ propagated: true, rounds: 2, names: ["www.example.test"] });
    expect(report.latest.authoritative.zones[0].servers[0]).toMatchObject({
      ns: "ns1.example.test",
      serial: 2,
      ok: true,
    });
  });

  it("--watch --json prints one JSON object per round and stops when propagated; --report writes the HTML", async () => {
    await setZone(3, NEW);
    const html = join(dir, "report.html");
    const r = await run([
      "propagation",
      "www.example.test",
      "--expect",
      NEW,
      ...common(),
      "--watch",
      "--json",
      "--interval",
      "5s",
      "--report",
      html,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.index)).toEqual([0, 1]);
    expect(lines[1].propagated).toBe(true);
    expect(lines[1].startedAt - lines[0].startedAt).toBeGreaterThanOrEqual(4500);
    const page = await readFile(html, "utf8");
    expect(page).toContain('<svg id="share-chart"');
    expect(page).toContain("✓ propagated");
  });

  it("--watch --timeout gives up with exit 1", async () => {
    await setZone(4, OLD);
    const r = await run([
      "propagation",
      "www.example.test",
      "--expect",
      NEW,
      "--resolvers",
      auth.address,
      "--no-authoritative",
      "--watch",
      "--timeout",
      "20s",
      "--interval",
      "5s",
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout.match(/^round \d+/gm)?.length).toBeGreaterThanOrEqual(4);
  });

  it("draws the live table on a terminal: marks, answer, TTL, progress bar", async () => {
    await setZone(5, NEW);
    const r = await run(["propagation", "www.example.test", "--expect", NEW, ...common()], { tty: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Authoritative example.test (serial 5)");
    expect(r.stdout).toMatch(/✓ 127\.0\.0\.1:\d+\s+NEW\s+203\.0\.113\.20\s+30s/);
    expect(r.stdout).toContain("[████████████████████████████████████████] 100%");
    expect(r.stdout).toContain("\x1b[");
  });

  it("rejects bad input with exit 2 and one clear line", async () => {
    const a = await run(["propagation", "www.example.test", "--expect", "not-an-ip"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toBe("error: --expect not-an-ip: not an IP address\n");
    const b = await run(["propagation", "www.example.test", "--expect", NEW, "--resolvers", "dns.google"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("resolver dns.google is not an IP address");
    expect(b.stderr).not.toContain("    at ");
    const c = await run(["propagation", "www.example.test", "--expect", NEW, "--timeout", "soon"]);
    expect(c.code).toBe(2);
  });
});

describe("cutover dns serve (the built binary)", () => {
  it("serves a zone file over UDP until stopped, and reloads it on change", async () => {
    const cli = new URL("../../dist/cli.js", import.meta.url).pathname;
    const file = join(dir, "served.zone");
    await writeFile(file, zone(7, OLD));
    const child = spawn(
      process.execPath,
      [cli, "dns", "serve", `${file}=example.test`, "--listen", "127.0.0.1:0", "--json"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      let first = JSON.parse((await lines.next()).value as string);
      expect(first.log).toMatch(/^serving example\.test \(serial 7\)/);
      first = JSON.parse((await lines.next()).value as string);
      expect(first.zones).toEqual([{ origin: "example.test", serial: 7, file }]);
      const { queryDns } = await import("@cutover/dns");
      const { parseServerSpec } = await import("@cutover/core");
      const server = parseServerSpec(first.listening);
      const r1 = await queryDns(server, "www.example.test", "A", { rd: false });
      expect(r1.response).toMatchObject({ aa: true, answers: [{ data: OLD }] });
      await writeFile(file, zone(8, NEW));
      // The next log lines, until the reload (a poll that caught the file half-written logs a failed
      // reload first); bounded so a missed reload fails here with what was logged.
      const seen: string[] = [];
      const until = Date.now() + 10_000;
      while (!seen.some((l) => l.includes("reloaded example.test serial 8")) && Date.now() < until) {
        const next = await Promise.race([
          lines.next(),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), until - Date.now())),
        ]);
        if (next === undefined || next.done) break;
        seen.push(String((JSON.parse(next.value as string) as { log?: string }).log));
      }
      expect(seen.join("\n")).toContain("reloaded example.test serial 8");
      const r2 = await queryDns(server, "www.example.test", "A", { rd: false });
      expect(r2.response?.answers[0]?.data).toBe(NEW);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const hard = setTimeout(() => child.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(hard);
      }
    }
  });

  it("names a missing zone file without a stack", async () => {
    const r = await run(["dns", "serve", "nope.zone", "--listen", "127.0.0.1:0"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: zone file not found: .*nope\.zone\n$/);
  });
});

describe("cutover propagation --atlas (RIPE Atlas API faked with msw)", () => {
  it("measures through the probes' resolvers and summarises per country, without printing the key", async () => {
    const { setupServer } = await import("msw/node");
    // The fake lives beside the library's Atlas client (one fake for both packages); a computed path keeps
    // that test file out of this package's typecheck.
    const fakePath = new URL("../../../dns/test/propagation/_atlas-fake.ts", import.meta.url).pathname;
    const { createAtlasFake } = (await import(fakePath)) as {
      createAtlasFake: (o: { key: string; answerFor: (probe: number) => string }) => {
        handlers: Parameters<typeof setupServer>;
      };
    };
    const KEY = "atlas-key-from-env-987654";
    const fake = createAtlasFake({ key: KEY, answerFor: (p) => (p % 4 === 0 ? "198.51.100.10" : "203.0.113.20") });
    const msw = setupServer(...fake.handlers);
    msw.listen({ onUnhandledRequest: "bypass" });
    try {
      await setZone(9, NEW);
      const html = join(dir, "atlas.html");
      const r = await runWithEnv(
        [
          "propagation",
          "www.example.test",
          "--expect",
          NEW,
          "--old",
          OLD,
          ...common(),
          "--atlas",
          "8",
          "--atlas-country",
          "DE,FR",
          "--report",
          html,
        ],
        { RIPE_ATLAS_KEY: KEY },
      );
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("RIPE Atlas (8 probes, their own resolvers; measurements 70000001)");
      expect(r.stdout).toMatch(/ {2}DE {2}3\/4 NEW, 1 OLD, 0 other/);
      expect(`${r.stdout}${r.stderr}${await readFile(html, "utf8")}`).not.toContain(KEY);
      expect(await readFile(html, "utf8")).toContain("<td>FR</td>");
      const missing = await runWithEnv(["propagation", "www.example.test", "--expect", NEW, "--atlas", "5"], {});
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("RIPE_ATLAS_KEY");
    } finally {
      msw.close();
    }
  });
});

async function runWithEnv(argv: string[], env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  let t = Date.parse("2027-12-01T14:00:00Z");
  const code = await main(argv, {
    stdout: { write: (s: string) => ((stdout += s), true), isTTY: false },
    stderr: { write: (s: string) => ((stderr += s), true), isTTY: false },
    env: { NO_COLOR: "1", ...env },
    cwd: process.cwd(),
    now: () => new Date(t),
    sleep: async (ms) => void (t += ms),
  });
  return { code, stdout, stderr };
}
