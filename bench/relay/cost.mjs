// Where a proxy's CPU goes, per request: one process of HAProxy (nbthread 1) or of the relay between wrk
// and nginx on loopback, CPU per request of the proxy (user and system), of nginx, of wrk and of the
// whole machine; with --perf, the proxy's time per request by system call and in user space (perf record).
// Traffic goes to 127.0.0.1 only; every process started here is stopped by its PID at the end.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cpuOf, freePort, machineBusy, Procs, run, sleep, startHaproxy, startNginx, tree, waitPort } from "./lib.mjs";

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
const dir = await mkdtemp(join(tmpdir(), "cutover-cost-"));
const procs = new Procs();

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
  const nginx = await startNginx(procs, dir, nginxPort);
  let proxy;
  if (TARGET === "haproxy") proxy = await startHaproxy(procs, dir, [[port, nginxPort]], 1);
  else {
    const listener = { kind: "tcp", host: "127.0.0.1", port };
    const config = { listeners: [{ ...listener, upstream: { kind: "tcp", host: "127.0.0.1", port: nginxPort } }] };
    await writeFile(join(dir, "relay.json"), JSON.stringify(config));
    proxy = procs.start(process.execPath, [RELAY, join(dir, "relay.json")]);
  }
  await waitPort(port);
  await sleep(300);
  const wrkArgs = ["-t2", "-c64", `-d${SECONDS}s`, `http://127.0.0.1:${port}/`];
  if (MODE === "close") wrkArgs.unshift("-H", "Connection: close");
  const rows = [];
  for (let r = 0; r < REPS; r++) {
    const proxyPids = (await tree([proxy.child.pid])).map(([p]) => p);
    const nginxPids = (await tree([nginx.child.pid])).map(([p]) => p);
    const [p0, n0, m0] = [cpuOf(proxyPids), cpuOf(nginxPids), machineBusy()];
    const { stdout, stderr } = await run("/usr/bin/time", ["-f", "TIME %U %S", "wrk", ...wrkArgs]);
    const [p1, n1, m1] = [cpuOf(proxyPids), cpuOf(nginxPids), machineBusy()];
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
    const pids = (await tree([proxy.child.pid])).map(([p]) => p);
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
  await procs.stopAll();
  await rm(dir, { recursive: true, force: true });
}
