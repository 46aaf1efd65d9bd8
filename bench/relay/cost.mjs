// Where a proxy's CPU goes, per request: one process of HAProxy (nbthread 1) or of the relay between wrk
// and nginx on loopback, CPU per request of the proxy (user and system), of nginx, of wrk and of the
// whole machine; with --perf, the proxy's time per request by system call and in user space (perf record).
// Traffic goes to 127.0.0.1 only; every process started here is stopped by its PID at the end.
import { execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
if (args.includes("--help") || args.includes("-h")) {
  console.log(`usage: bench/relay/cost.sh [--target haproxy|cutover] [--mode close|keep] [--seconds 4] [--reps 3] [--perf] [--relay FILE]
  CPU per request of one proxy process (and of nginx, wrk and the machine) under wrk -t2 -c64;
  --perf adds the proxy's time per request by system call and in user space (needs perf)
example: bench/relay/cost.sh --target cutover --mode close --perf`);
  process.exit(0);
}
const TARGET = opt("--target", "cutover");
const MODE = opt("--mode", "close");
const SECONDS = Number(opt("--seconds", "4"));
const REPS = Number(opt("--reps", "3"));
const PERF = args.includes("--perf");
const root = resolve(import.meta.dirname, "../..");
const RELAY = resolve(opt("--relay", join(root, "packages/relay/dist/main.js")));
const TICK_US = 1e6 / Number((await run("getconf", ["CLK_TCK"])).stdout.trim() || 100);
const dir = await mkdtemp(join(tmpdir(), "cutover-cost-"));
const procs = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}
async function waitPort(port) {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise((r) => {
      const s = connect({ port, host: "127.0.0.1" });
      s.once("connect", () => (s.destroy(), r(true)));
      s.once("error", () => r(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${port}`);
}
function start(cmd, argv) {
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "ignore"] });
  procs.push(child);
  return child;
}
/** The pids of a process and its descendants. */
function tree(pid) {
  const rows = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      rows.push([Number(p), Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ")[1])]);
    } catch {
      // gone
    }
  }
  const pids = new Set([pid]);
  for (let changed = true; changed;) {
    changed = false;
    for (const [p, pp] of rows)
      if (pids.has(pp) && !pids.has(p)) {
        pids.add(p);
        changed = true;
      }
  }
  return [...pids];
}
/** User and system CPU (µs) of processes so far. */
function cpu(pids) {
  let user = 0;
  let system = 0;
  for (const p of pids) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
      user += Number(f[11]);
      system += Number(f[12]);
    } catch {
      // gone
    }
  }
  return { user: user * TICK_US, system: system * TICK_US };
}
/** Busy CPU (µs) of the whole machine so far. */
function machine() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) * TICK_US;
}

/** Samples by system call (and user space) of a `perf script` dump, as shares of all samples. */
function bySyscall(text) {
  const blocks = text.split(/\n\s*\n/).filter((b) => b.trim() !== "");
  const counts = new Map();
  for (const b of blocks) {
    const frames = b.trim().split("\n");
    let tag = "user space";
    if (frames[0].includes("[kernel")) {
      const call = frames.map((l) => /(?:__x64_sys_|__do_sys_|ksys_)(\w+)/.exec(l)?.[1]).find(Boolean);
      tag = call !== undefined ? `${call}` : "kernel, no system call";
    }
    counts.set(tag, (counts.get(tag) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, v / blocks.length]));
}

const nginxPort = await freePort();
const port = await freePort();
try {
  await writeFile(join(dir, "www.txt"), "x".repeat(612));
  await writeFile(
    join(dir, "nginx.conf"),
    `daemon off; user root; worker_processes 2; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err warn;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p;
  fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${nginxPort} backlog=4096; location / { root ${dir}; try_files /www.txt =404; } } }`,
  );
  const nginx = start("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir]);
  await waitPort(nginxPort);
  let proxy;
  if (TARGET === "haproxy") {
    await writeFile(
      join(dir, "haproxy.cfg"),
      `global\n  maxconn 8000\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nlisten http\n  bind 127.0.0.1:${port}\n  server s 127.0.0.1:${nginxPort}\n`,
    );
    proxy = start("/usr/sbin/haproxy", ["-f", join(dir, "haproxy.cfg"), "-db"]);
  } else {
    const listener = { kind: "tcp", host: "127.0.0.1", port };
    const config = { listeners: [{ ...listener, upstream: { kind: "tcp", host: "127.0.0.1", port: nginxPort } }] };
    await writeFile(join(dir, "relay.json"), JSON.stringify(config));
    proxy = start(process.execPath, [RELAY, join(dir, "relay.json")]);
  }
  await waitPort(port);
  await sleep(300);
  const wrkArgs = ["-t2", "-c64", `-d${SECONDS}s`, `http://127.0.0.1:${port}/`];
  if (MODE === "close") wrkArgs.unshift("-H", "Connection: close");
  const rows = [];
  for (let r = 0; r < REPS; r++) {
    const proxyPids = tree(proxy.pid);
    const nginxPids = tree(nginx.pid);
    const [p0, n0, m0] = [cpu(proxyPids), cpu(nginxPids), machine()];
    const { stdout, stderr } = await run("/usr/bin/time", ["-f", "TIME %U %S", "wrk", ...wrkArgs]);
    const [p1, n1, m1] = [cpu(proxyPids), cpu(nginxPids), machine()];
    const n = Number(/(\d+) requests in/.exec(stdout)[1]);
    const w = /TIME ([\d.]+) ([\d.]+)/.exec(stderr);
    rows.push({
      rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]),
      user: (p1.user - p0.user) / n,
      system: (p1.system - p0.system) / n,
      nginx: (n1.user + n1.system - n0.user - n0.system) / n,
      wrk: ((Number(w[1]) + Number(w[2])) * 1e6) / n,
      machine: (m1 - m0) / n,
    });
  }
  const median = (f) => rows.map(f).sort((a, b) => a - b)[Math.floor(rows.length / 2)];
  const m = Object.fromEntries(Object.keys(rows[0]).map((k) => [k, median((x) => x[k])]));
  console.log(
    `${TARGET}, one process, wrk -c64 ${MODE === "close" ? "Connection: close" : "keep-alive"}, median of ${REPS} × ${SECONDS} s`,
  );
  console.log(`  requests/s            ${m.rps.toFixed(0)}`);
  console.log(
    `  proxy µs per request  ${(m.user + m.system).toFixed(1)} (user ${m.user.toFixed(1)}, system ${m.system.toFixed(1)})`,
  );
  console.log(`  nginx µs per request  ${m.nginx.toFixed(1)}`);
  console.log(`  wrk µs per request    ${m.wrk.toFixed(1)}`);
  console.log(`  machine µs per request ${m.machine.toFixed(1)}`);
  if (PERF) {
    const data = join(dir, "perf.data");
    const load = run("wrk", wrkArgs);
    await sleep(500);
    const pids = tree(proxy.pid);
    await run("perf", [
      "record",
      "-g",
      "-F",
      "4999",
      "-o",
      data,
      "-p",
      pids.join(","),
      "--",
      "sleep",
      String(Math.max(1, SECONDS - 1.5)),
    ]);
    await load;
    // perf's own sampling slows the proxy: its shares are applied to the cost measured without it
    const perRequest = m.user + m.system;
    const { stdout: script } = await run("perf", ["script", "-i", data, "-F", "ip,sym,dso"], { maxBuffer: 1 << 30 });
    console.log(`  by system call (perf's shares of the ${perRequest.toFixed(1)} µs above):`);
    for (const [k, share] of [...bySyscall(script)].sort((a, b) => b[1] - a[1]))
      if (share * perRequest >= 0.2) console.log(`    ${k.padEnd(24)} ${(share * perRequest).toFixed(1)}`);
  }
  console.log(JSON.stringify({ target: TARGET, mode: MODE, ...m }));
} finally {
  for (const p of procs.reverse())
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once("exit", r));
      process.kill(p.pid, "SIGTERM");
      const t = setTimeout(() => p.exitCode === null && process.kill(p.pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    }
  await rm(dir, { recursive: true, force: true });
}
