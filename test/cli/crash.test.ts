import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseZoneFile, startAuthoritativeServer, type AuthoritativeServer } from "@cutover/dns";
import { queryAdmin } from "@cutover/relay";
import { expect, test } from "vitest";

/*
 * The fault-injection suite for `run` and `tick` (#16). Each trial is a whole move (lower, preflight, handover
 * with a real relay, swap, watch against a real DNS server, drain, restore) on a clock that sleeping moves
 * forward (_clocked.mjs: the built CLI's own main), so a three-day timeline takes about a second and a
 * SIGKILL can land anywhere in it. Faults: SIGKILL at every journal boundary and failpoint and at seeded
 * random moments; a zone reload that fails; state.json removed or damaged after the kill; the same command
 * twice at once; the move driven by `tick` instead of `run`. The invariant: the zones (records, TTLs, SOA
 * serials), the originals and the journal end as after an uninterrupted run, each zone content was written
 * once and the last one was reloaded, the relay was started once, each step was done once.
 *
 * CUTOVER_CRASH_TRIALS (default 50) and CUTOVER_CRASH_SEED choose the trials; the seed is printed.
 */

const CLOCKED = fileURLToPath(new URL("./_clocked.mjs", import.meta.url));
const START = "2027-11-29T10:00:00.000Z";
const SWAP = "2027-12-01T14:00:00Z";
const TRIALS = Math.max(1, Number(process.env.CUTOVER_CRASH_TRIALS ?? 50));
const SEED = Number(process.env.CUTOVER_CRASH_SEED ?? 20261207);
/** Trials at once: the machine has 2 cores, shared. */
const CONCURRENCY = 3;

const ZONE_COM = `$ORIGIN example.com.
$TTL 3600
@ IN SOA ns1 hostmaster 2026010100 60 60 600 60
  IN NS ns1
ns1 IN A 192.0.2.53
www IN A 198.51.100.10 ; the web
mail 86400 IN A 198.51.100.10
`;
const ZONE_ORG = `$ORIGIN example.org.
@ 7200 IN SOA ns1.example.com. hostmaster.example.com. 7 60 60 600 60
@ 7200 NS ns1.example.com.
@ 7200 A 198.51.100.10
`;

interface Trial {
  dir: string;
  dns: AuthoritativeServer;
  newHost: Server;
  close(): Promise<void>;
}

/** A plan directory moving to a real listener on 127.0.0.1; its zones served for real on loopback. */
async function makeTrial(): Promise<Trial> {
  const dir = mkdtempSync(join(tmpdir(), `cutover-crash-${process.pid}-`));
  writeFileSync(join(dir, "com.zone"), ZONE_COM);
  writeFileSync(join(dir, "org.zone"), ZONE_ORG);
  const newHost = createServer((c) => {
    c.on("error", () => {});
    c.end("220 ok\r\n");
  });
  await new Promise<void>((r) => newHost.listen(0, "127.0.0.1", r));
  const port = (newHost.address() as { port: number }).port;
  const dns = await startAuthoritativeServer({
    zoneFiles: [join(dir, "com.zone"), join(dir, "org.zone")],
    listen: "127.0.0.1:0",
    pollMs: 50,
  });
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: crash
old: { ipv4: 198.51.100.10 }
new: { ipv4: 127.0.0.1 }
dns:
  provider: zonefile
  zones: [example.com, example.org]
  files: { example.com: com.zone, example.org: org.zone }
  reload: "if [ -e fail-reload ]; then rm fail-reload; echo down >&2; exit 1; fi; echo {zone} $(sha256sum < {file} | cut -c1-16) >> reloads.log"
  lowTtl: 300
schedule:
  swapAt: ${SWAP}
  margin: 1h
  restoreTtlAfter: 24h
  drain: { quiet: 30m, deadline: 72h }
relay:
  ports: [${port}]
  listen: 127.0.0.2
handover: { mode: rebind }
propagation:
  resolvers: [${dns.address}]
  authoritative:
    parent: false
    bootstrap: ${dns.address}
    nsAddresses: { ns1.example.com: [${dns.address}] }
`,
  );
  return {
    dir,
    dns,
    newHost,
    close: async () => {
      // The relay runs detached from the runner (it outlives a killed one): stop it.
      await queryAdmin(join(dir, ".cutover/crash/relay.sock"), { cmd: "stop" }, 2000).catch(() => undefined);
      await dns.close();
      await new Promise((r) => newHost.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `cutover COMMAND` on the trial's clock, killed (SIGKILL) at a failpoint or after `afterMs` of real time. */
function cutover(dir: string, command: "run" | "tick", kill: { failpoint?: string; afterMs?: number } = {}) {
  return new Promise<Ran>((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLOCKED, command, ...(command === "tick" ? ["--json"] : [])], {
      cwd: dir,
      env: {
        ...process.env,
        NO_COLOR: "1",
        CUTOVER_TEST_START: START,
        ...(kill.failpoint ? { CUTOVER_FAILPOINT: kill.failpoint } : {}),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // A bound, not an expectation: a run that hangs fails the trial instead of the suite's timeout.
    const bound = setTimeout(() => child.kill("SIGKILL"), 90_000);
    const random = kill.afterMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), kill.afterMs);
    child.on("close", (code, signal) => {
      clearTimeout(bound);
      if (random) clearTimeout(random);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Everything the invariant compares, read from the trial's files. */
function final(dir: string) {
  const recs = (file: string, zone: string) =>
    parseZoneFile(readFileSync(join(dir, file), "utf8"), { origin: zone }).entries.map((e) => e.record);
  const state = JSON.parse(readFileSync(join(dir, ".cutover/crash/state.json"), "utf8")) as {
    steps: Record<string, { status: string }>;
    originals: unknown[];
  };
  const events = readFileSync(join(dir, ".cutover/crash/events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step?: string });
  // What the DNS server was told to load: zone and content hash, in order.
  const reloads = readFileSync(join(dir, "reloads.log"), "utf8").trim().split("\n");
  const served = (zone: string) => reloads.filter((l) => l.startsWith(`${zone} `)).map((l) => l.split(" ")[1]);
  const hash = (file: string) =>
    execFileSync("sh", ["-c", `sha256sum < ${file} | cut -c1-16`], { cwd: dir })
      .toString()
      .trim();
  const relayLog = existsSync(join(dir, ".cutover/crash/relay.log"))
    ? readFileSync(join(dir, ".cutover/crash/relay.log"), "utf8")
    : "";
  const count = (type: string) => events.filter((e) => e.type === type).length;
  return {
    records: [...recs("com.zone", "example.com"), ...recs("org.zone", "example.org")],
    originals: state.originals,
    steps: Object.fromEntries(Object.entries(state.steps).map(([k, v]) => [k, v.status])),
    // The content each zone was last told to load is its final file: no write left unserved.
    servedFinal: served("example.com").at(-1) === hash("com.zone") && served("example.org").at(-1) === hash("org.zone"),
    // Each distinct content was written once (writing one twice would bump the SOA serial once more).
    distinctServed: [new Set(served("example.com")).size, new Set(served("example.org")).size],
    pendingReloads: readdirSync(dir).filter((f) => f.endsWith(".reload-pending")),
    created: count("run.created"),
    doneTwice: Object.entries(
      events
        .filter((e) => e.type === "step.done")
        .reduce<Record<string, number>>((m, e) => {
          m[e.step!] = (m[e.step!] ?? 0) + 1;
          return m;
        }, {}),
    )
      .filter(([, n]) => n > 1)
      .map(([k]) => k),
    // The relay is the one effect that is not idempotent: a second one started beside it fails to bind.
    relayTwice: /EADDRINUSE|address already in use/i.test(relayLog),
  };
}

/** A seeded generator (mulberry32): the same trials on every run with the same seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STEPS = ["lower", "preflight", "handover", "swap", "watch", "drain", "restore"];
/** Every journal boundary (the event appended, state.json not yet written) and the named points. */
const POINTS = [
  ...STEPS.flatMap((s) => [`journal:step.start:${s}`, `journal:step.done:${s}`]),
  "journal:run.created",
  "step.start:swap",
  "zone-applied:lower",
  "zone-applied:swap",
  "zone-applied:restore",
];

type Fault = "none" | "failing reload" | "state.json removed" | "state.json damaged" | "twice at once" | "by tick";
const FAULTS: Fault[] = [
  "none",
  "failing reload",
  "state.json removed",
  "state.json damaged",
  "twice at once",
  "by tick",
];

async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
    }),
  );
  return out;
}

test(`fault injection: ${TRIALS} trials of SIGKILL at journal boundaries and seeded random moments, failing reloads, a removed or damaged state.json, the same command twice; every move ends as an uninterrupted one`, async () => {
  // The reference: one uninterrupted run.
  const reference = await makeTrial();
  const ref = await cutover(reference.dir, "run");
  expect({ code: ref.code, stderr: ref.stderr }).toEqual({ code: 0, stderr: "" });
  const want = final(reference.dir);
  await reference.close();
  expect(want.steps).toEqual(Object.fromEntries(STEPS.map((s) => [s, "done"])));
  expect(want.distinctServed).toEqual([3, 3]);
  expect(want.servedFinal).toBe(true);

  const random = rng(SEED);
  const trials = Array.from({ length: TRIALS }, (_, i) => {
    const fault = FAULTS[i % FAULTS.length]!;
    if (i < POINTS.length) return { kill: { failpoint: POINTS[i]! }, fault, what: POINTS[i]! };
    // Anywhere in a run: up to one and a half times the reference's real duration.
    const afterMs = Math.round(random() * ref.ms * 1.5);
    return { kill: { afterMs }, fault, what: `after ${afterMs} ms` };
  });

  const results = await pool(trials, CONCURRENCY, async (t) => {
    const trial = await makeTrial();
    const { dir } = trial;
    try {
      if (t.fault === "failing reload") writeFileSync(join(dir, "fail-reload"), "");
      const command = t.fault === "by tick" ? "tick" : "run";
      const runs = [cutover(dir, command, t.kill)];
      if (t.fault === "twice at once") runs.push(cutover(dir, command));
      const first = await Promise.all(runs);
      let killed = first[0]!.signal === "SIGKILL";
      if (killed && t.fault === "state.json removed") rmSync(join(dir, ".cutover/crash/state.json"), { force: true });
      // Damaged where it exists: a kill before the journal began leaves no state.json to damage (and a damaged
      // state.json with no journal beside it is refused, since it may be all that holds the originals).
      if (killed && t.fault === "state.json damaged" && existsSync(join(dir, ".cutover/crash/state.json")))
        writeFileSync(join(dir, ".cutover/crash/state.json"), '{"version":1,"steps":"damaged"}');
      // Then `run` (or `tick`, as a timer would) again until the move is over: a failed reload or a killed
      // runner ends in a retry; a tick exits at once when nothing is due, so it is called many times.
      let last = first.find((r) => r.code === 0 && command === "run") ?? first[0]!;
      const others = first.slice(1).map((r) => r.code);
      for (let n = 0; n < (command === "tick" ? 60 : 4); n++) {
        if (command === "run" && last.code === 0) break;
        if (command === "tick" && last.code === 0) {
          // A timer fires at the next due time the tick printed (as `schedule --with at` re-arms).
          const nextAt = [...last.stdout.matchAll(/"nextAt":\s*"([^"]+)"/g)].at(-1)?.[1];
          if (!nextAt) break;
          const clock = Number(existsSync(join(dir, "clock")) ? readFileSync(join(dir, "clock"), "utf8") : 0);
          writeFileSync(join(dir, "clock"), String(Math.max(clock, Date.parse(nextAt))));
        }
        // Ticks are short: the failpoint stays armed until one of them reaches it.
        last = await cutover(dir, command, command === "tick" && !killed && t.kill.failpoint ? t.kill : {});
        if (last.signal === "SIGKILL") killed = true;
      }
      const got = final(dir);
      // Lines a resumed run may print: what it repaired, a reload that failed and was retried.
      const stderr = last.stderr
        .split("\n")
        .filter((l) => l && !l.startsWith("warning:") && !/attempt \d+ failed/.test(l))
        .join("\n");
      return { t, killed, others, last: { code: last.code, stderr }, got };
    } finally {
      await trial.close();
    }
  });

  const outcomes = results.map(
    (r) =>
      `${r.t.what} + ${r.t.fault}: ${r.killed ? "killed, resumed" : "not killed"}${r.others.length ? ` (second runner: exit ${r.others.join(",")})` : ""} → exit ${r.last.code}`,
  );
  // The trial counts and outcomes, for the CI log.
  console.log(
    `fault injection (CUTOVER_CRASH_SEED=${SEED}, reference run ${ref.ms} ms): ${results.length} trials, ${results.filter((r) => r.killed).length} killed and resumed\n${outcomes.join("\n")}`,
  );
  for (const r of results) {
    const what = `${r.t.what} + ${r.t.fault}`;
    expect({ what, ...r.last }).toEqual({ what, code: 0, stderr: "" });
    // A second runner at once waits its turn: exit 75 (another runner holds the plan) or it did the work.
    for (const c of r.others) expect({ what, second: [0, 75].includes(c ?? -1) }).toEqual({ what, second: true });
    expect({ what, ...r.got }).toEqual({ what, ...want, created: 1, doneTwice: [], pendingReloads: [] });
  }
  expect(results.filter((r) => r.killed).length).toBeGreaterThanOrEqual(Math.min(TRIALS, POINTS.length) / 2);
}, 600_000);
