import { join } from "node:path";

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
