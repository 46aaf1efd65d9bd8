import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as dnsPacket from "dns-packet";
import { freePort } from "./ports.js";

export const UNBOUND = "/usr/sbin/unbound";

export interface UnboundOptions {
  /** Unbound's working directory (config, pid file). */
  dir: string;
  /** Addresses to answer on, `IP` or `IP@PORT`. */
  interfaces: string[];
  /** The port for interfaces given without one (default 53). */
  port?: number;
  /** Who may ask, as CIDRs (default 127.0.0.0/8). */
  allow?: string[];
  /** Zones answered by local authoritative servers: zone → `IP@PORT` or `IP` addresses. */
  stubs: Record<string, string[]>;
  threads?: number;
  /** cache-min-ttl: 0 (the default) lets caches expire exactly with the TTL. */
  minTtl?: number;
  /** so-reuseport, for several threads on one port. */
  reusePort?: boolean;
}

/**
 * The config of a real Unbound (a caching resolver) for tests and benchmarks, run in the foreground with
 * `unbound -d -c FILE`: only the stub zones given (no root, no DNSSEC for them), no prefetch, no
 * serve-stale, no rate limits, so that what a test sees of a cache is what its TTLs say.
 */
export function unboundConfig(o: UnboundOptions): string {
  const tlds = [...new Set(Object.keys(o.stubs).map((z) => z.replace(/\.$/, "").split(".").pop()!))];
  return `server:
${o.interfaces.map((i) => `  interface: ${i}`).join("\n")}
  port: ${o.port ?? 53}
  do-ip6: no
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "${o.dir}"
  pidfile: "${join(o.dir, "unbound.pid")}"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: ${o.threads ?? 1}${o.reusePort ? "\n  so-reuseport: yes" : ""}
  do-not-query-localhost: no
  module-config: "iterator"
  cache-min-ttl: ${o.minTtl ?? 0}
  prefetch: no
  serve-expired: no
  qname-minimisation: no
  ratelimit: 0
  ip-ratelimit: 0
${(o.allow ?? ["127.0.0.0/8"]).map((c) => `  access-control: ${c} allow`).join("\n")}
${tlds.map((t) => `  local-zone: "${t}." nodefault`).join("\n")}
${Object.keys(o.stubs)
  .map((z) => `  domain-insecure: "${z}"`)
  .join("\n")}
remote-control:
  control-enable: no
${Object.entries(o.stubs)
  .map(([zone, addrs]) => `stub-zone:\n  name: "${zone}"\n${addrs.map((a) => `  stub-addr: ${a}`).join("\n")}\n`)
  .join("")}`;
}

export interface Unbound {
  /** `127.0.0.1:PORT`, as the propagation code takes a server. */
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a real Unbound (a caching resolver) on loopback, in `dir`, with stub zones pointing at local
 * authoritative servers given as `IP:PORT`. No TTL floor, no prefetch, no serve-stale: caches expire exactly
 * with their TTL. Ready when it answers a query; stopped by PID.
 */
export async function startUnbound(
  dir: string,
  stubs: Record<string, string[]>,
  options: { threads?: number } = {},
): Promise<Unbound> {
  const port = await freePort("127.0.0.1", { udp: true }); // the server answers on UDP and TCP
  const conf = join(dir, "unbound.conf");
  const stubAddrs = Object.fromEntries(
    Object.entries(stubs).map(([zone, addrs]) => [zone, addrs.map((a) => a.replace(":", "@"))]),
  );
  await writeFile(
    conf,
    unboundConfig({ dir, interfaces: [`127.0.0.1@${port}`], port, stubs: stubAddrs, threads: options.threads ?? 1 }),
  );
  const child: ChildProcess = spawn(UNBOUND, ["-d", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`unbound exited: ${stderr}`);
    if (await answers(port)) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(child.pid!, "SIGTERM");
      await exited;
    },
  };
}

/** Whether something on 127.0.0.1:`port` answers a DNS query (localhost A) over UDP within 200 ms. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 200);
    socket.on("message", () => done(true));
    socket.on("error", () => done(false));
    const query = dnsPacket.encode({
      type: "query",
      id: 1,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "A", name: "localhost" }],
    });
    socket.send(query, port, "127.0.0.1");
  });
}
