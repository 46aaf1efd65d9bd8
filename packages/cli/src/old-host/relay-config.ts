import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  FilesSyncStep,
  HandoverConfig,
  ListenerConfig,
  RelayConfig,
  SshConfig,
  SyncSsh,
  SyncStep,
  UpstreamConfig,
} from "@cutover/relay";
import { UsageError, UserError } from "../errors.js";
import type { Plan } from "../plan/schema.js";

export interface RelayConfigOptions {
  adminPath: string;
  /** Private key for the SSH connection to the new host (sockets `via: ssh`). */
  sshKeyPath?: string | undefined;
  /** Used when the plan pins no `new.hostKey`. */
  knownHostsPath?: string | undefined;
}

/** Where the admin socket lives by default: /run for root, else the temp dir (per user). */
export function defaultAdminPath(env: Record<string, string | undefined>): string {
  if (env.CUTOVER_RELAY_ADMIN) return env.CUTOVER_RELAY_ADMIN;
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return uid === 0 ? "/run/cutover-relay.sock" : join(tmpdir(), `cutover-relay-${uid}.sock`);
}

/** `root@203.0.113.20`, `admin@new.example.com:2222`, `[2001:db8::20]:22` → host, port, user. */
export function parseSshTarget(target: string): { host: string; port: number; username: string } {
  const at = target.lastIndexOf("@");
  const username = at >= 0 ? target.slice(0, at) : "root";
  let rest = at >= 0 ? target.slice(at + 1) : target;
  let port = 22;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : 22, username };
  if (isIP(rest) !== 6) {
    const m = /^(.*):(\d+)$/.exec(rest);
    if (m) {
      rest = m[1]!;
      port = Number(m[2]);
    }
  }
  return { host: rest, port, username };
}

/**
 * The relay's config for a plan: every `relay.ports` entry forwards to the same port on the new host (or
 * the one it names: `80: 8081`)
 * (IPv4 if it has one), with the plan's PROXY protocol choice; every `relay.sockets` entry is a unix
 * listener (owner, group, mode) to a host:port on the new host, through SSH when `via: ssh`. The handover
 * happens at the swap; the drain follows the one rule `plan` and `run` show: once no client has arrived
 * for `drain.quiet` since the swap (so at swap + quiet at the earliest), and at swap + deadline at the latest.
 */
export function planRelayConfig(plan: Plan, options: RelayConfigOptions): RelayConfig {
  const target = plan.new.ipv4 ?? plan.new.ipv6;
  if (target === undefined)
    throw new UserError("the plan's new host has no address to forward to (new.ipv4 or new.ipv6)");
  const listeners: ListenerConfig[] = plan.relay.ports.map((port) => {
    const pp = plan.relay.proxyProtocol[String(port)];
    return {
      kind: "tcp",
      ...(plan.relay.listen === undefined ? {} : { host: plan.relay.listen }),
      port,
      upstream: { kind: "tcp", host: target, port: plan.relay.targets[String(port)] ?? port },
      ...(pp === undefined ? {} : { proxyProtocol: pp }),
    };
  });
  let ssh: Record<string, SshConfig> | undefined;
  for (const s of plan.relay.sockets) {
    const [owner, group] = (s.owner ?? "").split(":");
    let upstream: UpstreamConfig;
    if (s.to.via === "ssh") {
      if (plan.new.ssh === undefined)
        throw new UserError(
          `relay.sockets ${s.listen} goes via ssh, but the plan has no new.ssh (e.g. root@${target})`,
        );
      if (s.to.host === undefined || s.to.port === undefined)
        throw new UserError(`relay.sockets ${s.listen}: via ssh needs to.host and to.port (e.g. 127.0.0.1 and 3306)`);
      if (ssh === undefined) {
        const t = parseSshTarget(plan.new.ssh);
        const conn: SshConfig = { host: t.host, port: t.port, username: t.username };
        if (plan.new.hostKey !== undefined) conn.hostKey = plan.new.hostKey;
        else if (options.knownHostsPath !== undefined) conn.knownHostsPath = options.knownHostsPath;
        else
          throw new UserError(
            "relay.sockets goes via ssh: pin the new host's key in new.hostKey (ssh-keygen -lf) or pass --known-hosts FILE",
          );
        if (options.sshKeyPath !== undefined) conn.privateKeyPath = options.sshKeyPath;
        ssh = { new: conn };
      }
      upstream = { kind: "ssh", via: "new", host: s.to.host, port: s.to.port };
    } else if (s.to.path !== undefined) upstream = { kind: "unix", path: s.to.path };
    else upstream = { kind: "tcp", host: s.to.host ?? target, port: s.to.port! };
    listeners.push({
      kind: "unix",
      path: s.listen,
      ...(owner ? { owner } : {}),
      ...(group ? { group } : {}),
      ...(s.mode === undefined ? {} : { mode: s.mode }),
      upstream,
    });
  }
  const swap = plan.schedule.swapAt.getTime();
  const config: RelayConfig = {
    listeners,
    admin: { path: options.adminPath },
    drain: {
      quietMs: plan.schedule.drain.quiet,
      quietAfter: new Date(swap + plan.schedule.drain.quiet).toISOString(),
      stopBy: new Date(swap + plan.schedule.drain.deadline).toISOString(),
    },
    handover: {
      mode: plan.handover.mode,
      services: plan.handover.stopServices,
      // Only the moving addresses are redirected: other addresses of the old host keep their services.
      addresses: [plan.old.ipv4, plan.old.ipv6].filter((a): a is string => a !== undefined),
      ...(plan.handover.stopCommand ? { stopCommand: plan.handover.stopCommand } : {}),
      at: plan.schedule.swapAt.toISOString(),
      table: relayTable(plan.name),
    },
  };
  const hold = planHold(plan);
  if (hold !== undefined) Object.assign(config.handover!, hold);
  if (plan.handover.startCommand) config.handover!.startCommand = plan.handover.startCommand;
  if (ssh !== undefined) config.ssh = ssh;
  if (plan.relay.workers !== undefined) config.workers = plan.relay.workers;
  return config;
}

/**
 * The firewall table (nft) or tag (iptables) of a plan's relay: its own per plan, so two moves from one
 * host (or two relays on one test machine) never remove each other's rules, which a starting relay does
 * with rules left behind under its name. At most 23 characters: iptables names its hold chain
 * `TABLE_HOLD` and a chain name has 28 at most.
 */
export function relayTable(planName: string): string {
  const name = planName.replace(/[^a-z0-9]/g, "_");
  if (name.length <= 15) return `cutover_${name}`;
  const hash = createHash("sha256").update(planName).digest("hex").slice(0, 4);
  return `cutover_${name.slice(0, 10)}_${hash}`;
}

/** How the old host's OpenSSH client reaches the new host for the sync (new.ssh, sync.ssh). */
export function planSyncSsh(plan: Plan): SyncSsh {
  if (plan.new.ssh === undefined) throw new UserError("sync: the plan has no new.ssh for the old host to copy to");
  const t = parseSshTarget(plan.new.ssh);
  return {
    target: `${t.username}@${t.host}`,
    ...(t.port === 22 ? {} : { port: t.port }),
    ...(plan.sync?.ssh.identity === undefined ? {} : { identity: plan.sync.ssh.identity }),
    ...(plan.sync?.ssh.knownHosts === undefined ? {} : { knownHosts: plan.sync.ssh.knownHosts }),
  };
}

/** The rsync part of the sync: each path once, as the warm pass and the final delta both copy it. */
export function planFilesStep(plan: Plan): FilesSyncStep | undefined {
  if (plan.sync === undefined || plan.sync.files.length === 0) return undefined;
  return {
    kind: "files",
    paths: plan.sync.files.map((f) =>
      typeof f === "string"
        ? { from: f }
        : { from: f.path, ...(f.to === undefined ? {} : { to: f.to }), ...(f.delete ? { delete: true } : {}) },
    ),
    ssh: planSyncSsh(plan),
  };
}

/** The hold and the final sync the relay runs at the handover: files first, then the database. */
export function planHold(plan: Plan): Pick<HandoverConfig, "hold" | "sync"> | undefined {
  const sync = plan.sync;
  if (sync === undefined) return undefined;
  const steps: SyncStep[] = [];
  const files = planFilesStep(plan);
  if (files !== undefined) steps.push(files);
  const m = sync.mysql;
  if (m !== undefined) {
    const common = { optionsFile: m.optionsFile, newOptionsFile: m.newOptionsFile, ssh: planSyncSsh(plan) };
    if (m.mode === "dump") steps.push({ kind: "mysql-dump", databases: m.databases ?? [], ...common });
    // The replica's wait ends a little before the hold does, so its promotion (or the release) still fits.
    else steps.push({ kind: "mysql-replication", ...common, timeoutMs: Math.max(1000, sync.maxHold - 5000) });
  }
  return {
    hold: { maxConnections: sync.maxHeld, maxMs: sync.maxHold, onTimeout: sync.onTimeout },
    sync: steps,
  };
}

/**
 * `--forward` values: `80:203.0.113.20:80`, `127.0.0.1:8080:203.0.113.20:80`, `[::]:443:[2001:db8::20]:443`,
 * `/var/lib/mysql/mysql.sock:127.0.0.1:3306`; a `/v1` or `/v2` suffix adds PROXY protocol.
 */
export function parseForwardSpec(spec: string): ListenerConfig {
  const bad = () =>
    new UsageError(
      `--forward ${spec}: expected [BIND:]PORT:HOST:PORT or /PATH:HOST:PORT, optionally ending /v1 or /v2`,
      {
        details: [
          "e.g. --forward 80:203.0.113.20:80  --forward 25:203.0.113.20:25/v2  --forward 443:[2001:db8::20]:443",
        ],
      },
    );
  let text = spec.trim();
  let proxyProtocol: "v1" | "v2" | undefined;
  const pp = /\/(v1|v2)$/.exec(text);
  if (pp) {
    proxyProtocol = pp[1] as "v1" | "v2";
    text = text.slice(0, pp.index);
  }
  const hostPort = /^(.*):(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(text);
  if (!hostPort) throw bad();
  const [, listen = "", rawHost = "", rawPort = ""] = hostPort;
  const host = rawHost.replace(/^\[|\]$/g, "");
  const port = Number(rawPort);
  if (!(port >= 1 && port <= 65535)) throw bad();
  const upstream: UpstreamConfig = { kind: "tcp", host, port };
  const extra = proxyProtocol === undefined ? {} : { proxyProtocol };
  if (listen.startsWith("/")) return { kind: "unix", path: listen, upstream, ...extra };
  const l = /^(?:(\[[^\]]+\]|[^:[\]]+):)?(\d+)$/.exec(listen);
  if (!l) throw bad();
  const bind = l[1]?.replace(/^\[|\]$/g, "");
  const listenPort = Number(l[2]);
  if (!(listenPort >= 0 && listenPort <= 65535)) throw bad();
  if (bind !== undefined && isIP(bind) === 0)
    throw new UsageError(`--forward ${spec}: ${bind} is not an IP address to listen on`);
  return { kind: "tcp", ...(bind === undefined ? {} : { host: bind }), port: listenPort, upstream, ...extra };
}
