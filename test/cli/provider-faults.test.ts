import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";

/*
 * The fault-injection suite with provider faults (#16): each trial is a whole move (lower, swap, watch,
 * restore) of its own zone on a real PowerDNS server, driven by `cutover run` as a subprocess on a clock that
 * sleeping moves forward (_clocked.mjs). The CLI reaches PowerDNS's HTTP API through a small proxy of the
 * test's that answers, at seeded moments, 429 with Retry-After, 500, 503, an answer lost after the request
 * was forwarded (502), no answer at all (the request times out) or a reset connection; and the runner is
 * killed (SIGKILL) at a seeded random moment in half of the trials. `run` is then called again until the
 * move is over. The invariant: the zone's records and TTLs and the journaled originals equal those of an
 * uninterrupted run; each step was done once and the run created once; and no write reached PowerDNS again
 * after a read of the zone had shown its effect (the runner reads before it writes: a write it could know
 * about is never repeated; only the provider's own retry of a request whose answer it did not see is).
 *
 * CUTOVER_FAULT_TRIALS (default 20) and CUTOVER_FAULT_SEED choose the trials; the seed is printed.
 */

const CLOCKED = fileURLToPath(new URL("./_clocked.mjs", import.meta.url));
const START = "2027-11-29T10:00:00.000Z";
const TRIALS = Math.max(1, Number(process.env.CUTOVER_FAULT_TRIALS ?? 20));
const SEED = Number(process.env.CUTOVER_FAULT_SEED ?? 20261208);
/** Trials at once: the machine has 2 cores, shared. */
const CONCURRENCY = 3;

interface PdnsServer {
  apiUrl: string;
  apiKey: string;
  dnsPort: number;
  createZone(
    zone: string,
    records: ReadonlyArray<{ name: string; type: string; content: string; ttl: number }>,
  ): Promise<void>;
  stop(): Promise<void>;
}

let pdns: PdnsServer;
beforeAll(async () => {
  const helpers = new URL("../../packages/dns/test/providers/", import.meta.url).pathname;
  const { startPdns } = (await import(`${helpers}_pdns.ts`)) as { startPdns: () => Promise<PdnsServer> };
  pdns = await startPdns();
}, 60_000);
afterAll(async () => {
  await pdns?.stop();
});

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

type Fault = "429" | "500" | "503" | "lost" | "timeout" | "reset";
const FAULTS: Fault[] = ["429", "500", "503", "lost", "timeout", "reset"];

interface Forwarded {
  method: string;
  path: string;
  body: string;
  /** PowerDNS's answer was sent to the client (false: the proxy lost it on purpose, or the client had gone). */
  answered: boolean;
}

/**
 * A proxy in front of PowerDNS's API that injects a fault into a request with probability `rate` (at most
 * three in a row, so that the provider's retries can get through), from a seeded generator.
 */
async function startFaultProxy(random: () => number, rate: number) {
  const forwarded: Forwarded[] = [];
  const injected: Record<string, number> = {};
  let inARow = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString();
        const fault =
          rate > 0 && inARow < 3 && random() < rate ? FAULTS[Math.floor(random() * FAULTS.length)]! : undefined;
        inARow = fault ? inARow + 1 : 0;
        if (fault) injected[fault] = (injected[fault] ?? 0) + 1;
        const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(JSON.stringify(value));
        };
        if (fault === "429") return json(429, { error: "Too many requests" }, { "retry-after": "1" });
        if (fault === "500" || fault === "503") return json(Number(fault), { error: "backend unavailable" });
        if (fault === "reset") return req.socket.destroy();
        if (fault === "timeout") return; // no answer: the client gives up after dns.requestTimeout
        const headers: Record<string, string> = {};
        for (const h of ["x-api-key", "content-type", "accept"]) {
          const v = req.headers[h];
          if (typeof v === "string") headers[h] = v;
        }
        const upstream = await fetch(`${pdns.apiUrl}${req.url}`, {
          method: req.method!,
          headers,
          ...(body ? { body } : {}),
        });
        const text = await upstream.text();
        const lost = fault === "lost";
        const entry: Forwarded = { method: req.method!, path: req.url ?? "", body, answered: false };
        forwarded.push(entry);
        if (lost) return json(502, { error: "bad gateway" });
        res.on("finish", () => (entry.answered = !req.socket.destroyed && upstream.ok));
        res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
        res.end(text);
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    forwarded,
    injected,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const SEED_RECORDS = [
  { name: "@", type: "A", content: "198.51.100.10", ttl: 3600 },
  // One RRset, one member moving and one staying.
  { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 },
  { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 },
  { name: "mail", type: "A", content: "198.51.100.10", ttl: 86400 },
  { name: "other", type: "A", content: "192.0.2.7", ttl: 3600 },
  { name: "@", type: "TXT", content: "v=spf1 ip4:198.51.100.10 -all", ttl: 3600 },
];

let zones = 0;
/** A plan directory moving its own zone on the shared PowerDNS, through a proxy with the given faults. */
async function makeTrial(random: () => number, rate: number) {
  const zone = `t${process.pid}-${++zones}.test`;
  await pdns.createZone(zone, SEED_RECORDS);
  const proxy = await startFaultProxy(random, rate);
  const dir = mkdtempSync(join(tmpdir(), `cutover-faults-${process.pid}-`));
  const at = `127.0.0.1:${pdns.dnsPort}`;
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: faults
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns:
  provider: powerdns
  zones: [${zone}]
  apiUrl: ${proxy.url}
  requestTimeout: 2s
  lowTtl: 300
schedule:
  swapAt: 2027-12-01T14:00:00Z
  margin: 1h
  restoreTtlAfter: 24h
propagation:
  resolvers: [${at}]
  authoritative:
    parent: false
    bootstrap: ${at}
    nsAddresses: { ns1.${zone}: [${at}] }
`,
  );
  return {
    zone,
    dir,
    proxy,
    close: async () => {
      await proxy.close();
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

/** `cutover run` on the trial's clock, killed (SIGKILL) after `afterMs` of real time when given. */
function run(dir: string, afterMs?: number) {
  return new Promise<Ran>((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLOCKED, "run", "--force"], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", CUTOVER_TEST_START: START, PDNS_API_KEY: pdns.apiKey },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // A bound, not an expectation: a run that hangs fails the trial instead of the suite's timeout.
    const bound = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const kill = afterMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), afterMs);
    child.on("close", (code, signal) => {
      clearTimeout(bound);
      if (kill) clearTimeout(kill);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Everything the invariant compares, with the trial's zone name replaced by ZONE. */
async function final(t: { zone: string; dir: string; proxy: { forwarded: Forwarded[] } }) {
  const norm = (s: string) => s.split(t.zone).join("ZONE");
  const res = await fetch(`${pdns.apiUrl}/api/v1/servers/localhost/zones/${t.zone}.`, {
    headers: { "X-API-Key": pdns.apiKey },
  });
  const z = (await res.json()) as {
    rrsets: Array<{ name: string; type: string; ttl: number; records: Array<{ content: string }> }>;
  };
  const records = z.rrsets
    .filter((s) => s.type !== "SOA")
    .flatMap((s) => s.records.map((r) => norm(`${s.name} ${s.ttl} ${s.type} ${r.content}`)))
    .sort();
  const state = JSON.parse(readFileSync(join(t.dir, ".cutover/faults/state.json"), "utf8")) as {
    steps: Record<string, { status: string }>;
    originals: Array<{ name: string; type: string; content: string; ttl: number }>;
  };
  const events = readFileSync(join(t.dir, ".cutover/faults/events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; step?: string });
  const done: Record<string, number> = {};
  for (const e of events) if (e.type === "step.done") done[e.step!] = (done[e.step!] ?? 0) + 1;
  // A write sent again although a read after it had shown its effect: the runner knew, yet repeated it.
  // (The same write sent again with no read between is the provider's own retry of a request whose answer
  // it did not see: a lost answer, or one that came after its timeout on a loaded machine.)
  const known = new Set<string>();
  const applied = new Set<string>();
  const repeated: string[] = [];
  for (const f of t.proxy.forwarded) {
    if (f.method === "GET") {
      // A read of the zone's records (not the list of zones) shows what every write before it did.
      if (f.answered && f.path.includes(t.zone)) for (const k of applied) known.add(k);
      continue;
    }
    const key = createHash("sha256").update(`${f.method} ${f.body}`).digest("hex").slice(0, 12);
    if (known.has(key)) repeated.push(`${f.method} ${norm(f.body).slice(0, 100)}`);
    if (f.answered) applied.add(key);
  }
  return {
    records,
    originals: state.originals.map((o) => `${norm(o.name)} ${o.ttl} ${o.type} ${o.content}`).sort(),
    steps: Object.fromEntries(Object.entries(state.steps).map(([k, v]) => [k, v.status])),
    created: events.filter((e) => e.type === "run.created").length,
    doneTwice: Object.entries(done)
      .filter(([, n]) => n > 1)
      .map(([k]) => k),
    repeated,
  };
}

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

test(`provider faults: ${TRIALS} trials of 429/5xx/timeouts/lost answers from PowerDNS's API at seeded moments, with SIGKILL at seeded random moments; every move ends as an uninterrupted one`, async () => {
  // The reference: one uninterrupted run without faults.
  const reference = await makeTrial(() => 1, 0);
  const ref = await run(reference.dir);
  expect({ code: ref.code, stderr: ref.stderr }).toEqual({ code: 0, stderr: "" });
  const want = await final(reference);
  await reference.close();
  expect(want.steps).toEqual({ lower: "done", swap: "done", watch: "done", restore: "done" });
  expect(want.records).toContain("www.ZONE. 3600 A 198.51.100.11");
  expect(want.records).toContain("www.ZONE. 3600 A 203.0.113.20");

  const random = rng(SEED);
  const trials = Array.from({ length: TRIALS }, (_, i) => ({
    seed: Math.floor(random() * 2 ** 31),
    rate: [0.15, 0.3, 0.45][i % 3]!,
    // Half the trials are also killed, anywhere in the first run (its real time grows with the faults).
    killAfterMs: i % 2 === 1 ? Math.round(random() * ref.ms * 2) : undefined,
  }));

  const results = await pool(trials, CONCURRENCY, async (t) => {
    const trial = await makeTrial(rng(t.seed), t.rate);
    try {
      let last = await run(trial.dir, t.killAfterMs);
      const killed = last.signal === "SIGKILL";
      let runs = 1;
      // Then `run` again until the move is over: a step that failed (the provider's retries used up) or a
      // killed runner ends in a retry.
      while (last.code !== 0 && runs < 8) {
        last = await run(trial.dir);
        runs++;
      }
      const got = await final(trial);
      const stderr = last.stderr
        .split("\n")
        .filter((l) => l && !l.startsWith("warning:") && !/attempt \d+ failed/.test(l))
        .join("\n");
      return { t, killed, runs, injected: { ...trial.proxy.injected }, last: { code: last.code, stderr }, got };
    } finally {
      await trial.close();
    }
  });

  const outcomes = results.map(
    (r, i) =>
      `#${i} rate ${r.t.rate}${r.t.killAfterMs === undefined ? "" : `, kill after ${r.t.killAfterMs} ms`}: ${Object.entries(
        r.injected,
      )
        .map(([k, n]) => `${n}×${k}`)
        .join(" ")} → ${r.killed ? "killed, " : ""}${r.runs} run(s), exit ${r.last.code}`,
  );
  const faults = results.reduce((n, r) => n + Object.values(r.injected).reduce((a, b) => a + b, 0), 0);
  // The trial counts and outcomes, for the CI log.
  console.log(
    `provider faults (CUTOVER_FAULT_SEED=${SEED}, reference run ${ref.ms} ms): ${results.length} trials, ${faults} faults injected, ${results.filter((r) => r.killed).length} killed and resumed\n${outcomes.join("\n")}`,
  );
  for (const [i, r] of results.entries()) {
    const what = `#${i}`;
    expect({ what, ...r.last }).toEqual({ what, code: 0, stderr: "" });
    expect({ what, ...r.got }).toEqual({ what, ...want, created: 1, doneTwice: [], repeated: [] });
  }
  expect(faults).toBeGreaterThan(TRIALS);
  expect(results.filter((r) => r.killed).length).toBeGreaterThan(0);
}, 600_000);
