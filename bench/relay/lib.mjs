// What the relay benchmarks (run.mjs, cost.mjs) share: ports on loopback, the processes they start (and
// stop by PID), the nginx and HAProxy they configure, and the CPU and memory of process trees.
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

export const run = promisify(execFile);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The tests' free port: below the kernel's ephemeral range, so no outgoing connection of a busy run takes it
// between the check and the server's bind.
export { freePort } from "@cutover/testkit";

export async function waitPort(port) {
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

/** The processes a benchmark starts; `stopAll` ends them by PID (SIGTERM, SIGKILL after 5 s), newest first. */
export class Procs {
  list = [];
  start(cmd, argv) {
    const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const p = { child, err: () => err };
    this.list.push(p);
    return p;
  }
  async stop(p) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    const exited = new Promise((r) => p.child.once("exit", r));
    process.kill(p.child.pid, "SIGTERM");
    const t = setTimeout(() => p.child.exitCode === null && process.kill(p.child.pid, "SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  }
  async stopAll() {
    for (const p of this.list.reverse()) await this.stop(p);
    this.list = [];
  }
}

/** nginx serving a 612-byte page on 127.0.0.1:`port` (two workers, no log), files under `dir`. */
export async function startNginx(procs, dir, port) {
  await writeFile(join(dir, "www.txt"), "x".repeat(612));
  await writeFile(
    join(dir, "nginx.conf"),
    `daemon off; user root; worker_processes 2; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err warn;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p;
  fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${port} backlog=4096; location / { root ${dir}; try_files /www.txt =404; } } }`,
  );
  const p = procs.start("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir]);
  await waitPort(port);
  return p;
}

/** HAProxy in TCP mode forwarding each [listen, upstream] port pair on loopback; `nbthread` as given or HAProxy's default (one per core). */
export async function startHaproxy(procs, dir, pairs, nbthread) {
  const listens = pairs.map(([from, to], i) => `listen l${i}\n  bind 127.0.0.1:${from}\n  server s 127.0.0.1:${to}\n`);
  await writeFile(
    join(dir, "haproxy.cfg"),
    `global\n  maxconn 8000\n${nbthread === undefined ? "" : `  nbthread ${nbthread}\n`}defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n${listens.join("")}`,
  );
  const p = procs.start("/usr/sbin/haproxy", ["-f", join(dir, "haproxy.cfg"), "-db"]);
  for (const [from] of pairs) await waitPort(from);
  return p;
}

/** The processes of the trees under `roots`: [pid, rss KiB] of each. */
export async function tree(roots) {
  const { stdout } = await run("ps", ["-e", "-o", "pid=,ppid=,rss="]);
  const rows = stdout
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
  const pids = new Set(roots);
  for (let changed = true; changed;) {
    changed = false;
    for (const [p, pp] of rows)
      if (pids.has(pp) && !pids.has(p)) {
        pids.add(p);
        changed = true;
      }
  }
  return rows.filter(([p]) => pids.has(p)).map(([p, , rss]) => [p, rss]);
}

export const TICK_US = 1e6 / Number((await run("getconf", ["CLK_TCK"])).stdout.trim() || 100);

/**
 * CPU time in µs used so far by processes: user and system, each with that of the children they have
 * reaped (socat's forks). A process that has exited counts no more.
 */
export function cpuOf(pids) {
  let user = 0;
  let system = 0;
  for (const p of pids) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
      user += Number(f[11]) + Number(f[13]);
      system += Number(f[12]) + Number(f[14]);
    } catch {
      // it exited: its time is in its parent's children's time once reaped
    }
  }
  return { user: user * TICK_US, system: system * TICK_US };
}

/** Busy CPU time (µs) of the whole machine so far. */
export function machineBusy() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) * TICK_US;
}
