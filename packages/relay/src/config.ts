import { isIP } from "node:net";
import { RelayError } from "./errors.js";
import type { ProxyVersion } from "./proxy-protocol.js";

/**
 * The relay's whole configuration as plain JSON data: what `cutover relay start` and the deployed
 * bundle read, what `planRelayConfig` computes from a plan, what `--dry-run` prints.
 */
export interface RelayConfig {
  listeners: ListenerConfig[];
  /** Named SSH connections to the new host; a listener's `{ kind: "ssh", via: NAME }` upstream uses one. */
  ssh?: Record<string, SshConfig>;
  limits?: LimitsConfig;
  /** Unix socket (mode 0600) answering JSON: status, drain, stop. */
  admin?: { path: string };
  drain?: DrainConfig;
  handover?: HandoverConfig;
  /** How many client addresses the statistics keep (the least recently seen are dropped). Default 10000. */
  maxClients?: number;
  /**
   * Processes serving connections, to use more than one core (workers.ts): the relay program runs the
   * relay as usual and forks `workers - 1` helpers that accept on the same listening sockets (TCP and unix
   * listeners whose upstream is an address or a path; UDP and SSH upstreams stay in the main process).
   * Status, drain and the quiet stop cover all of them. Default 1.
   */
  workers?: number;
}

export type ListenerConfig = TcpListenerConfig | UnixListenerConfig | UdpListenerConfig;

export interface TcpListenerConfig {
  kind: "tcp";
  /** Shown in stats; default `tcp/HOST:PORT`. */
  name?: string;
  /** Bind address; default every address (`::`, dual-stack). */
  host?: string;
  port: number;
  upstream: UpstreamConfig;
  proxyProtocol?: ProxyVersion;
  /**
   * For the redirect handover: the relay listens on this spare port, and nftables/iptables sends new
   * connections for `port` to it. Default: `defaultSparePort(port)` (when handover mode is redirect).
   */
  sparePort?: number;
}

export interface UnixListenerConfig {
  kind: "unix";
  name?: string;
  path: string;
  /** User name or uid that owns the socket file. */
  owner?: string;
  group?: string;
  /** Octal text such as "0660"; default "0666". */
  mode?: string;
  upstream: UpstreamConfig;
  proxyProtocol?: ProxyVersion;
}

export interface UdpListenerConfig {
  kind: "udp";
  name?: string;
  host?: string;
  port: number;
  /** UDP goes to a host and port (TCP, unix and SSH upstreams carry streams only). */
  upstream: { kind: "tcp"; host: string; port: number };
  /** A client's flow is forgotten after this long without a datagram either way. Default 60 s. */
  idleTimeoutMs?: number;
}

export type UpstreamConfig =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "unix"; path: string }
  | { kind: "ssh"; via: string; host: string; port: number };

export interface SshConfig {
  host: string;
  port?: number;
  username: string;
  /** Private key file; else the agent in `agent` or SSH_AUTH_SOCK. */
  privateKeyPath?: string;
  agent?: string;
  /** The server's host key, pinned: `SHA256:...` as `ssh-keygen -lf` prints it. */
  hostKey?: string;
  /** Or an OpenSSH known_hosts file listing it. One of the two is required. */
  knownHostsPath?: string;
  keepaliveIntervalMs?: number;
  readyTimeoutMs?: number;
  /** Reconnect backoff: from min doubling up to max. Defaults 250 ms and 30 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

export interface LimitsConfig {
  /** Above this many open connections, new ones are reset at once and counted as refused. Default 10000. */
  maxConnections?: number;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** A connection with no byte either way for this long (to a quarter more: a sweep checks) is closed. Default 1 h; 0 turns it off. */
  idleTimeoutMs?: number;
  /**
   * TCP keepalive probes start after this long idle. Default 60 s; 0 turns them off. Keepalive is turned on
   * by a sweep every keepAliveMs / 2 (short connections never pay for it), so a connection silent from the
   * start gets its first probe between 1 and 1.5 × keepAliveMs after it opened.
   */
  keepAliveMs?: number;
  /** Listen backlog. Default 4096 (the kernel caps it at net.core.somaxconn); at least 511. */
  backlog?: number;
}

export interface DrainConfig {
  /** Stop by itself once no connection has been open and none arrived for this long. Absent: never. */
  quietMs?: number;
  /** When draining, open connections are closed after this long. Default 60 s. */
  deadlineMs?: number;
  /** Start the quiet watch (and stop when quiet) only after this instant (ISO), e.g. swap + 1 h. */
  quietAfter?: string;
  /** Drain at this instant (ISO) whatever the traffic, e.g. swap + 72 h. */
  stopBy?: string;
}

export interface HandoverConfig {
  /** `none` (default): just bind. `rebind`: stop the services, then bind their ports as soon as free. */
  mode: "none" | "rebind" | "redirect";
  /** Units (or whatever `stopCommand` understands) to stop at the handover, in order. */
  services?: string[];
  /** argv run once per service; `{service}` is replaced. Default `systemctl stop {service}`. */
  stopCommand?: string[];
  /** Do the handover at this instant (ISO); default at once. Forwarding on spare ports starts at once. */
  at?: string;
  /**
   * redirect: wait this long after the rules are in before stopping the services, so connections already
   * queued on a service's listening socket are accepted by it (closing a listener resets its queue). Default 1 s.
   */
  settleMs?: number;
  /** rebind: keep trying to bind a port for this long. Default 30 s. */
  rebindTimeoutMs?: number;
  /**
   * Hold new connections from the moment the relay owns the ports until the old services have stopped and
   * the final sync has run, then release them to the upstream in arrival order (zero data loss: no client
   * reaches the new host before the data written on the old one is there). Absent: no hold.
   */
  hold?: HoldConfig;
  /** What runs while connections are held, in order (rsync, a database dump or a replica's promotion). */
  sync?: SyncStep[];
  /**
   * argv run once per service to start it again when a hold is aborted (`hold.onTimeout: abort` after a
   * failed or late sync); `{service}` is replaced. Default `systemctl start {service}`.
   */
  startCommand?: string[];
  /** redirect: `nft`, `iptables`, or `auto` (nft if present). */
  firewall?: "auto" | "nft" | "iptables";
  /**
   * The dead man's switch: the rules stop matching this many seconds after the relay last renewed them
   * (it renews every second), so a killed relay leaves no redirect behind for longer. Default 4.
   */
  aliveSeconds?: number;
  /** The nftables table / iptables comment tag. Default `cutover`. */
  table?: string;
  /**
   * redirect: only connections to these addresses (the old host's, which move) are redirected. Without
   * it, every local address is; that also catches the relay's own connections when the new host is a
   * local address too (one machine, as in the demo).
   */
  addresses?: string[];
}

export interface HoldConfig {
  /** Connections held at once; past it, a new connection is refused (reset at once) and counted. Default 1000. */
  maxConnections?: number;
  /** The longest a connection is held: the hold ends this long after it began, synced or not. Default 30 s. */
  maxMs?: number;
  /**
   * What happens when the sync fails or takes longer than `maxMs`: `release` (default) sends the held
   * connections to the new host anyway and says what was not synced; `abort` starts the old services again
   * (`startCommand`), gives their ports back, and releases the held connections to them.
   */
  onTimeout?: "release" | "abort";
}

/** One part of the final sync, run on the old host while connections are held (sync.ts). */
export type SyncStep = FilesSyncStep | MysqlDumpSyncStep | MysqlReplicationSyncStep | CommandSyncStep;

/** How the old host's OpenSSH client reaches the new host (rsync -e, the dump's pipe, the replica's queries). */
export interface SyncSsh {
  /** user@host */
  target: string;
  port?: number;
  /** Private key file on the old host; default the client's own (~/.ssh/id_*). */
  identity?: string;
  /** known_hosts file listing the new host's key; host keys are checked (StrictHostKeyChecking yes). */
  knownHosts?: string;
}

export interface FilesSyncStep {
  kind: "files";
  /** Directories or files on the old host, each copied to the same path on the new host (or `to`). */
  paths: { from: string; to?: string; delete?: boolean }[];
  ssh: SyncSsh;
}

export interface MysqlDumpSyncStep {
  kind: "mysql-dump";
  databases: string[];
  /** Option file on the old host with the user and password for mysqldump ([client] group). */
  optionsFile: string;
  /** Option file on the new host for the mysql client that loads the dump. */
  newOptionsFile: string;
  ssh: SyncSsh;
}

export interface MysqlReplicationSyncStep {
  kind: "mysql-replication";
  optionsFile: string;
  newOptionsFile: string;
  ssh: SyncSsh;
  /** Stop waiting for the replica after this long (the hold's maxMs bounds it too). Default 25 s. */
  timeoutMs?: number;
}

export interface CommandSyncStep {
  kind: "command";
  /** Shown in the status and the report. */
  name?: string;
  argv: string[];
}

export interface ResolvedLimits {
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveMs: number;
  backlog: number;
}

export function resolveLimits(l: LimitsConfig | undefined): ResolvedLimits {
  return {
    maxConnections: l?.maxConnections ?? 10_000,
    connectTimeoutMs: l?.connectTimeoutMs ?? 10_000,
    idleTimeoutMs: l?.idleTimeoutMs ?? 3_600_000,
    keepAliveMs: l?.keepAliveMs ?? 60_000,
    backlog: Math.max(511, l?.backlog ?? 4096),
  };
}

export function listenerName(l: ListenerConfig): string {
  if (l.name !== undefined) return l.name;
  if (l.kind === "unix") return `unix:${l.path}`;
  const host = l.host ?? "*";
  return `${l.kind}/${host.includes(":") ? `[${host}]` : host}:${l.port}`;
}

export function describeUpstream(u: UpstreamConfig): string {
  if (u.kind === "unix") return `unix:${u.path}`;
  const hp = `${u.host.includes(":") ? `[${u.host}]` : u.host}:${u.port}`;
  return u.kind === "ssh" ? `ssh(${u.via}) → ${hp}` : hp;
}

/**
 * Checks a config read from JSON and returns it typed; every problem at once in one RelayError
 * (code E_RELAY_CONFIG) whose message lists `path: what is wrong`.
 */
export function parseRelayConfig(value: unknown): RelayConfig {
  const problems: string[] = [];
  const bad = (path: string, msg: string) => problems.push(`${path}: ${msg}`);
  if (!isObject(value)) throw new RelayError("relay config: expected a JSON object", { code: "E_RELAY_CONFIG" });
  const known = ["listeners", "ssh", "limits", "admin", "drain", "handover", "maxClients", "workers"];
  for (const k of Object.keys(value))
    if (!known.includes(k)) bad(k, `unknown key; expected one of ${known.join(", ")}`);
  const listeners = value.listeners;
  if (!Array.isArray(listeners)) bad("listeners", "expected a list");
  const sshNames = isObject(value.ssh) ? Object.keys(value.ssh) : [];
  if (value.ssh !== undefined) {
    if (!isObject(value.ssh)) bad("ssh", "expected an object of named connections");
    else
      for (const [name, s] of Object.entries(value.ssh)) {
        const p = `ssh.${name}`;
        if (!isObject(s)) {
          bad(p, "expected an object");
          continue;
        }
        if (typeof s.host !== "string" || s.host === "") bad(`${p}.host`, "expected a host name or address");
        if (typeof s.username !== "string" || s.username === "") bad(`${p}.username`, "expected a user name");
        if (s.port !== undefined && !isPort(s.port)) bad(`${p}.port`, "expected a port from 1 to 65535");
        if (s.hostKey === undefined && s.knownHostsPath === undefined)
          bad(
            p,
            "give hostKey (SHA256:... from ssh-keygen -lf) or knownHostsPath: host keys are never accepted blindly",
          );
        if (
          s.hostKey !== undefined &&
          (typeof s.hostKey !== "string" || !/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(s.hostKey))
        )
          bad(`${p}.hostKey`, "expected SHA256: followed by 43 base64 characters");
      }
  }
  const seen = new Set<string>();
  (Array.isArray(listeners) ? listeners : []).forEach((l: unknown, i) => {
    const p = `listeners[${i}]`;
    if (!isObject(l)) return bad(p, "expected an object");
    if (l.kind === "tcp" || l.kind === "udp") {
      if (!isPort(l.port) && l.port !== 0) bad(`${p}.port`, "expected a port from 1 to 65535 (0: any free port)");
      if (l.host !== undefined && (typeof l.host !== "string" || isIP(l.host) === 0))
        bad(`${p}.host`, "expected an IP address to bind, e.g. 0.0.0.0 or ::");
      const key = `${l.kind}/${String(l.host ?? "*")}:${String(l.port)}`;
      if (seen.has(key) && l.port !== 0) bad(p, `${key} is listed twice`);
      seen.add(key);
      if (l.sparePort !== undefined && !isPort(l.sparePort)) bad(`${p}.sparePort`, "expected a port from 1 to 65535");
    } else if (l.kind === "unix") {
      if (typeof l.path !== "string" || !l.path.startsWith("/")) bad(`${p}.path`, "expected an absolute path");
      if (l.mode !== undefined && (typeof l.mode !== "string" || !/^0?[0-7]{3}$/.test(l.mode)))
        bad(`${p}.mode`, 'expected octal text such as "0660"');
    } else {
      return bad(`${p}.kind`, 'expected "tcp", "unix" or "udp"');
    }
    if (l.proxyProtocol !== undefined && l.proxyProtocol !== "v1" && l.proxyProtocol !== "v2")
      bad(`${p}.proxyProtocol`, 'expected "v1" or "v2"');
    const u = l.upstream;
    if (!isObject(u)) return bad(`${p}.upstream`, "expected an object");
    if (l.kind === "udp" && u.kind !== "tcp")
      return bad(`${p}.upstream.kind`, 'UDP forwards to { kind: "tcp", host, port } (a host and port)');
    if (u.kind === "tcp" || u.kind === "ssh") {
      if (typeof u.host !== "string" || u.host === "") bad(`${p}.upstream.host`, "expected a host");
      if (!isPort(u.port)) bad(`${p}.upstream.port`, "expected a port from 1 to 65535");
      if (u.kind === "ssh" && (typeof u.via !== "string" || !sshNames.includes(u.via)))
        bad(
          `${p}.upstream.via`,
          `expected the name of a connection under ssh (${sshNames.join(", ") || "none defined"})`,
        );
    } else if (u.kind === "unix") {
      if (typeof u.path !== "string" || !u.path.startsWith("/")) bad(`${p}.upstream.path`, "expected an absolute path");
    } else bad(`${p}.upstream.kind`, 'expected "tcp", "unix" or "ssh"');
  });
  if (value.admin !== undefined && (!isObject(value.admin) || typeof value.admin.path !== "string"))
    bad("admin", "expected { path: /run/cutover-relay.sock }");
  if (
    value.workers !== undefined &&
    !(Number.isInteger(value.workers) && Number(value.workers) >= 1 && Number(value.workers) <= 64)
  )
    bad("workers", "expected a whole number from 1 to 64");
  const h = value.handover;
  if (h !== undefined) {
    if (!isObject(h) || !["none", "rebind", "redirect"].includes(String(h.mode)))
      bad("handover.mode", 'expected "none", "rebind" or "redirect"');
    else {
      if (h.at !== undefined && Number.isNaN(Date.parse(String(h.at)))) bad("handover.at", "expected an ISO date-time");
      if (
        h.addresses !== undefined &&
        (!Array.isArray(h.addresses) || !h.addresses.every((a) => typeof a === "string" && isIP(a) !== 0))
      )
        bad("handover.addresses", "expected a list of IP addresses");
      if (h.table !== undefined && !/^[a-z][a-z0-9_]{0,30}$/.test(String(h.table)))
        bad("handover.table", "expected a short name of lowercase letters, digits and _");
      if (
        h.aliveSeconds !== undefined &&
        !(Number.isInteger(h.aliveSeconds) && Number(h.aliveSeconds) >= 2 && Number(h.aliveSeconds) <= 3600)
      )
        bad("handover.aliveSeconds", "expected a whole number of seconds from 2 to 3600");
      if (h.firewall !== undefined && !["auto", "nft", "iptables"].includes(String(h.firewall)))
        bad("handover.firewall", 'expected "auto", "nft" or "iptables"');
      if (h.hold !== undefined && Number(value.workers ?? 1) > 1)
        bad(
          "handover.hold",
          "a hold is kept by one process: give workers 1 (helper processes would pass connections on)",
        );
      if (h.hold !== undefined) {
        if (!isObject(h.hold)) bad("handover.hold", "expected an object");
        else {
          const m = h.hold.maxConnections;
          if (m !== undefined && !(Number.isInteger(m) && Number(m) >= 1 && Number(m) <= 1_000_000))
            bad("handover.hold.maxConnections", "expected a whole number from 1 to 1000000");
          const ms = h.hold.maxMs;
          if (ms !== undefined && !(Number.isInteger(ms) && Number(ms) >= 0 && Number(ms) <= 3_600_000))
            bad("handover.hold.maxMs", "expected a whole number of milliseconds from 0 to 3600000 (an hour)");
          if (h.hold.onTimeout !== undefined && !["release", "abort"].includes(String(h.hold.onTimeout)))
            bad("handover.hold.onTimeout", 'expected "release" or "abort"');
          if (
            h.hold.onTimeout === "abort" &&
            h.mode === "redirect" &&
            !(Array.isArray(h.addresses) && h.addresses.length > 0)
          )
            bad(
              "handover.hold.onTimeout",
              "abort with redirect needs handover.addresses (the old host's own): the relay then reaches the old services over 127.0.0.1 without being redirected to itself",
            );
        }
      }
      for (const k of ["stopCommand", "startCommand"])
        if (
          h[k] !== undefined &&
          !(Array.isArray(h[k]) && h[k].length > 0 && h[k].every((a: unknown) => typeof a === "string"))
        )
          bad(`handover.${k}`, "expected a non-empty list of strings (argv)");
      if (h.sync !== undefined) {
        if (!Array.isArray(h.sync)) bad("handover.sync", "expected a list of steps");
        else if (h.hold === undefined) bad("handover.sync", "a sync runs while connections are held: give hold too");
        else h.sync.forEach((st: unknown, i: number) => checkSyncStep(st, `handover.sync[${i}]`, bad));
      }
    }
  }
  const d = value.drain;
  for (const k of ["quietAfter", "stopBy"])
    if (isObject(d) && d[k] !== undefined && Number.isNaN(Date.parse(String(d[k]))))
      bad(`drain.${k}`, "expected an ISO date-time");
  if (problems.length > 0)
    throw new RelayError(
      `relay config has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n  ${problems.join("\n  ")}`,
      {
        code: "E_RELAY_CONFIG",
      },
    );
  return value as unknown as RelayConfig;
}

function checkSyncStep(st: unknown, p: string, bad: (path: string, msg: string) => void): void {
  if (!isObject(st)) return bad(p, "expected an object");
  const strings = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string" && x !== "");
  const abs = (v: unknown) => typeof v === "string" && v.startsWith("/");
  const checkSsh = (s: unknown) => {
    if (!isObject(s) || typeof s.target !== "string" || !/^[^\s@]+@[^\s@]+$/.test(s.target))
      return bad(`${p}.ssh.target`, "expected user@host");
    if (s.port !== undefined && !isPort(s.port)) bad(`${p}.ssh.port`, "expected a port from 1 to 65535");
    for (const k of ["identity", "knownHosts"])
      if (s[k] !== undefined && !abs(s[k])) bad(`${p}.ssh.${k}`, "expected an absolute path on the old host");
  };
  if (st.kind === "files") {
    if (!Array.isArray(st.paths) || st.paths.length === 0)
      bad(`${p}.paths`, "expected a list of { from, to?, delete? }");
    else
      st.paths.forEach((f: unknown, j: number) => {
        if (!isObject(f) || !abs(f.from)) return bad(`${p}.paths[${j}].from`, "expected an absolute path");
        if (f.to !== undefined && !abs(f.to)) bad(`${p}.paths[${j}].to`, "expected an absolute path");
        if (f.delete !== undefined && typeof f.delete !== "boolean")
          bad(`${p}.paths[${j}].delete`, "expected true or false");
      });
    checkSsh(st.ssh);
  } else if (st.kind === "mysql-dump" || st.kind === "mysql-replication") {
    if (!abs(st.optionsFile)) bad(`${p}.optionsFile`, "expected an absolute path (an option file on the old host)");
    if (!abs(st.newOptionsFile))
      bad(`${p}.newOptionsFile`, "expected an absolute path (an option file on the new host)");
    if (
      st.kind === "mysql-dump" &&
      !(strings(st.databases) && (st.databases as string[]).every((d) => /^[A-Za-z0-9_$-]+$/.test(d)))
    )
      bad(`${p}.databases`, "expected a list of database names");
    if (st.timeoutMs !== undefined && !(Number.isInteger(st.timeoutMs) && Number(st.timeoutMs) > 0))
      bad(`${p}.timeoutMs`, "expected a whole number of milliseconds");
    checkSsh(st.ssh);
  } else if (st.kind === "command") {
    if (!strings(st.argv)) bad(`${p}.argv`, "expected a non-empty list of strings");
  } else bad(`${p}.kind`, 'expected "files", "mysql-dump", "mysql-replication" or "command"');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isPort(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535;
}

const DEFAULT_SPARE_OFFSET = 20_000;

/**
 * Where the relay listens for a port it takes over by redirect, unless the config says (`sparePort`):
 * 20000 above the service port, or 20000 below it when that would pass 65535 (a service on 46309 gets
 * 26309), so the port is predictable for a firewall rule.
 */
export function defaultSparePort(port: number): number {
  return port + DEFAULT_SPARE_OFFSET <= 65_535 ? port + DEFAULT_SPARE_OFFSET : port - DEFAULT_SPARE_OFFSET;
}
