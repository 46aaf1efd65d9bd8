// The relay benchmark harness (see run.sh). Every target forwards two loopback ports: one to an nginx
// it starts (wrk, idle connections), one to an iperf3 server it starts. Each figure is the median of
// --reps runs; the table gives each relay's ratio to HAProxy measured in the same run.
// Traffic goes to 127.0.0.1 only; every process started here is stopped by its PID at the end.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cpuOf, freePort, Procs, run, sleep, startHaproxy, startNginx, tree, waitPort } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const optText = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? String(args[i + 1]) : def;
};
if (args.includes("--help") || args.includes("-h")) {
  console.log(`usage: bench/relay/run.sh [--reps 3] [--seconds 4] [--only direct,socat,haproxy,cutover,cutover-1w] [--relay FILE] [--baseline FILE]
  --only      the targets to measure (default all; ratios need haproxy). cutover runs with workers: 2,
              cutover-1w as one process (the default)
  --relay     the relay script to run as "cutover" and "cutover-1w" (default packages/relay/dist/main.js)
  --baseline  another relay script (e.g. an older bundle, cutover-relay.cjs) measured in the same run as "baseline"
example: bench/relay/run.sh --reps 3 --seconds 3 --only haproxy,cutover`);
  process.exit(0);
}
const REPS = opt("--reps", 3);
const SECONDS = opt("--seconds", 4);
const IDLE = 1000;
const root = resolve(import.meta.dirname, "../..");
const ONLY = optText("--only", "direct,socat,haproxy,cutover,cutover-1w").split(",");
const BASELINE = args.includes("--baseline") ? resolve(optText("--baseline", "")) : undefined;
if (BASELINE !== undefined) ONLY.push("baseline");
const RELAY = resolve(optText("--relay", join(root, "packages/relay/dist/main.js")));
const dir = await mkdtemp(join(tmpdir(), "cutover-bench-"));
const procs = new Procs();

/** RSS in KiB of a process and all its descendants. */
async function rssTree(pid) {
  return (await tree([pid])).reduce((s, [, rss]) => s + rss, 0);
}
/** The CPU (µs, user + system) of processes. */
const cpuUs = (pids) => {
  const c = cpuOf(pids);
  return c.user + c.system;
};
/**
 * Runs `measure` and returns its result with the CPU the target spent meanwhile, or null: the processes
 * there at the start, their children reaped meanwhile, and the processes born meanwhile that are still
 * there at the end (socat's forks for keep-alive connections).
 */
async function withCpu(t, measure) {
  if (t.pids.length === 0) return { value: await measure(), cpu: null };
  const pids = (await tree(t.pids)).map(([p]) => p);
  const before = cpuUs(pids);
  const value = await measure();
  const born = (await tree(t.pids)).map(([p]) => p).filter((p) => !pids.includes(p));
  return { value, cpu: cpuUs(pids) - before + cpuUs(born) };
}
const median = (xs) => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.length === 0 ? NaN : [...ok].sort((a, b) => a - b)[Math.floor(ok.length / 2)];
};

// --- the services behind every relay
const nginxPort = await freePort();
const iperfPort = await freePort();
await startNginx(procs, dir, nginxPort);
procs.start("iperf3", ["-s", "-B", "127.0.0.1", "-p", String(iperfPort)]);
await waitPort(iperfPort);

// --- the targets: each returns { http, iperf, pid, stop }
const targets = {
  direct: async () => ({ http: nginxPort, iperf: iperfPort, pid: null, pids: [], stop: async () => {} }),
  socat: async () => {
    const [h, i] = [await freePort(), await freePort()];
    const a = procs.start("socat", [`TCP-LISTEN:${h},bind=127.0.0.1,fork,reuseaddr`, `TCP:127.0.0.1:${nginxPort}`]);
    const b = procs.start("socat", [`TCP-LISTEN:${i},bind=127.0.0.1,fork,reuseaddr`, `TCP:127.0.0.1:${iperfPort}`]);
    await waitPort(h);
    await waitPort(i);
    return {
      http: h,
      iperf: i,
      pid: a.child.pid,
      pids: [a.child.pid, b.child.pid],
      stop: async () => (await procs.stop(a), await procs.stop(b)),
    };
  },
  haproxy: async () => {
    const [h, i] = [await freePort(), await freePort()];
    const p = await startHaproxy(procs, dir, [
      [h, nginxPort],
      [i, iperfPort],
    ]);
    return { http: h, iperf: i, pid: p.child.pid, pids: [p.child.pid], stop: () => procs.stop(p) };
  },
  cutover: () => relayTarget(RELAY, 2),
  "cutover-1w": () => relayTarget(RELAY, 1),
  baseline: () => relayTarget(BASELINE, 2),
};

async function relayTarget(script, workers) {
  const [h, i] = [await freePort(), await freePort()];
  const config = {
    workers,
    listeners: [
      { kind: "tcp", host: "127.0.0.1", port: h, upstream: { kind: "tcp", host: "127.0.0.1", port: nginxPort } },
      { kind: "tcp", host: "127.0.0.1", port: i, upstream: { kind: "tcp", host: "127.0.0.1", port: iperfPort } },
    ],
  };
  await writeFile(join(dir, "relay.json"), JSON.stringify(config));
  const p = procs.start(process.execPath, [script, join(dir, "relay.json")]);
  await waitPort(h);
  await waitPort(i);
  return { http: h, iperf: i, pid: p.child.pid, pids: [p.child.pid], stop: () => procs.stop(p) };
}

async function iperf(port, streams) {
  // iperf3's server runs one test at a time and may still be finishing the last one: retry briefly.
  const argv = ["-c", "127.0.0.1", "-p", String(port), "-t", String(SECONDS), "-P", String(streams), "-J"];
  for (let attempt = 1; ; attempt++) {
    const { stdout } = await run("iperf3", argv, { maxBuffer: 64 << 20 }).catch((error) => ({
      stdout: error.stdout ?? "",
    }));
    let sum;
    try {
      sum = JSON.parse(stdout).end?.sum_received;
    } catch {
      sum = undefined;
    }
    if (sum?.bits_per_second !== undefined) return { gbps: sum.bits_per_second / 1e9, bytes: sum.bytes };
    if (attempt === 5) return { gbps: NaN, bytes: NaN };
    await sleep(1000);
  }
}
function ms(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
}
async function wrk(port, close) {
  const argv = ["-t2", "-c64", `-d${SECONDS}s`, "--latency", `http://127.0.0.1:${port}/`];
  if (close) argv.unshift("-H", "Connection: close");
  const { stdout } = await run("wrk", argv);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]);
  const n = Number(/(\d+) requests in/.exec(stdout)[1]);
  const p50 = ms(/\s50%\s+(\S+)/.exec(stdout)[1]);
  const p99 = ms(/\s99%\s+(\S+)/.exec(stdout)[1]);
  const errors = /Non-2xx|Socket errors: (.*)/.exec(stdout)?.[0] ?? "";
  return { rps, n, p50, p99, errors };
}
async function idleCost(t) {
  if (t.pid === null) return null;
  await sleep(300);
  const before = await rssTree(t.pid);
  const sockets = [];
  for (let i = 0; i < IDLE; i++) {
    sockets.push(
      await new Promise((r, j) => {
        const s = connect({ port: t.http, host: "127.0.0.1" }, () => r(s));
        s.on("error", j);
      }),
    );
  }
  await sleep(1500);
  const after = await rssTree(t.pid);
  for (const s of sockets) s.destroy();
  await sleep(300);
  return ((after - before) * 1024) / IDLE;
}

process.on("SIGINT", () => void cleanup().then(() => process.exit(130)));
async function cleanup() {
  await procs.stopAll();
  await rm(dir, { recursive: true, force: true });
}

const results = {};
try {
  // Rounds, each measuring every target once in turn: a load spike on this shared machine then hits all
  // targets alike instead of all the runs of one of them.
  const names = Object.keys(targets).filter((n) => ONLY.includes(n));
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < REPS; r++) {
    for (const name of names) {
      const t = await targets[name]();
      try {
        // idle first, on a fresh process: after the load runs a heap has room to spare and hides the cost
        const idle = await idleCost(t);
        // Each measurement with the CPU the target spent on it: per GB forwarded (ms), per request (µs).
        const cost = async (measure, units) => {
          const { value, cpu } = await withCpu(t, measure);
          return { ...value, cpu: cpu === null ? null : cpu / units(value) };
        };
        const perGB = (v) => (v.bytes / 1e9) * 1000;
        const one = {
          idle,
          bulk1: await cost(() => iperf(t.iperf, 1), perGB),
          bulk4: await cost(() => iperf(t.iperf, 4), perGB),
          close: await cost(
            () => wrk(t.http, true),
            (v) => v.n,
          ),
          keep: await cost(
            () => wrk(t.http, false),
            (v) => v.n,
          ),
        };
        runs[name].push(one);
        process.stderr.write(`${name} run ${r + 1}/${REPS}: ${JSON.stringify(one)}\n`);
      } finally {
        await t.stop();
      }
    }
  }
  for (const name of names) {
    const pick = (f) => median(runs[name].map(f));
    results[name] = {
      bulk1: pick((x) => x.bulk1.gbps),
      bulk4: pick((x) => x.bulk4.gbps),
      bulk1Cpu: pick((x) => x.bulk1.cpu ?? NaN),
      bulk4Cpu: pick((x) => x.bulk4.cpu ?? NaN),
      closeCpu: pick((x) => x.close.cpu ?? NaN),
      keepCpu: pick((x) => x.keep.cpu ?? NaN),
      closeRps: pick((x) => x.close.rps),
      closeP50: pick((x) => x.close.p50),
      closeP99: pick((x) => x.close.p99),
      keepRps: pick((x) => x.keep.rps),
      keepP50: pick((x) => x.keep.p50),
      keepP99: pick((x) => x.keep.p99),
      idle: runs[name][0].idle === null ? null : pick((x) => x.idle),
    };
  }
} finally {
  await cleanup();
}

const h = results.haproxy ?? {};
const cols = [
  ["iperf3 1 stream Gb/s", "bulk1", 2, false],
  ["iperf3 4 streams Gb/s", "bulk4", 2, false],
  ["new conn/s (close)", "closeRps", 0, false],
  ["close p50 ms", "closeP50", 2, true],
  ["close p99 ms", "closeP99", 2, true],
  ["keep-alive req/s", "keepRps", 0, false],
  ["keep-alive p50 ms", "keepP50", 2, true],
  ["keep-alive p99 ms", "keepP99", 2, true],
  ["KiB per idle conn", "idle", 1, true],
  ["CPU ms per GB, 1 stream", "bulk1Cpu", 0, true],
  ["CPU ms per GB, 4 streams", "bulk4Cpu", 0, true],
  ["CPU µs per new conn", "closeCpu", 1, true],
  ["CPU µs per keep-alive req", "keepCpu", 1, true],
];
const rows = [["", ...Object.keys(results)]];
for (const [label, key, digits, lowerBetter] of cols) {
  const row = [label];
  for (const name of Object.keys(results)) {
    const v = results[name][key];
    if (v === null || v === undefined || Number.isNaN(v)) {
      row.push("-");
      continue;
    }
    const shown = key === "idle" ? (v / 1024).toFixed(digits) : v.toFixed(digits);
    const ratio = name === "haproxy" || !h[key] ? "" : ` (${(lowerBetter ? h[key] / v : v / h[key]).toFixed(2)}x)`;
    row.push(`${shown}${ratio}`);
  }
  rows.push(row);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(
  `relay benchmark, loopback, ${REPS} runs each (median), ${SECONDS} s per measurement; (Nx) = ratio to HAProxy, higher is better;\nCPU rows: the target's own processes (user + system), so a proxy that leaves more of the two cores to the load generator and the servers shows it`,
);
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
console.log(JSON.stringify({ results }));
