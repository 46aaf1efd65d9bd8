import { rm } from "node:fs/promises";
import { connect, createServer, isIP, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { startAdminServer, type AdminRequest } from "./admin.js";
import {
  defaultSparePort,
  describeUpstream,
  listenerName,
  parseRelayConfig,
  resolveLimits,
  type RelayConfig,
  type HoldConfig,
  type TcpListenerConfig,
  type UnixListenerConfig,
  type UpstreamConfig,
} from "./config.js";
import { RelayError } from "./errors.js";
import { connectSocket, joinStreams, type Link } from "./forward.js";
import {
  ALIVE_SECONDS,
  bindWhenFree,
  chooseFirewall,
  createFirewallGuard,
  findFirewall,
  planFirewall,
  planRedirect,
  REBIND_WITHOUT_FIREWALL,
  redirectAlive,
  removeRedirect,
  stopServices,
  waitForAcceptQueues,
  type FirewallGuard,
  type FirewallPlan,
  type RedirectRule,
} from "./handover.js";
import { encodeProxyHeader } from "./proxy-protocol.js";
import { rawPath, type RawHandle } from "./raw.js";
import { createSshUpstream, type SshUpstream } from "./ssh.js";
import { planSyncReport, runSync, thawOld } from "./sync.js";
import {
  createStatsStore,
  mergeStatuses,
  type HandoverStatus,
  type HoldStatus,
  type ListenerStats,
  type LiveConnection,
  type RelayStatus,
} from "./stats.js";
import type { RestartRecord } from "./supervise.js";
import { createUdpListener, type UdpListener } from "./udp.js";
import {
  isRelayLinked,
  listenUnix,
  parseMode,
  relinkUnix,
  releaseUnix,
  takeOverUnix,
  type UnixTakeover,
} from "./unix-socket.js";

export interface RelayOptions {
  /** One line per event worth telling an admin (binds, handover steps, failures). Default: silent. */
  log?: (line: string) => void;
  now?: () => number;
  /** With `workers` > 1, in the main process: the helper processes that serve connections too. */
  helpers?: RelayHelpers;
  /**
   * In a helper process: stream listeners are not bound here; the main process passes their listening
   * sockets, which `adopt` takes. No handover, no admin socket.
   */
  adopting?: boolean;
  /** Under the respawn wrapper: the restarts before this process, shown in the status. */
  restarts?: RestartRecord;
}

/** The main process's side of its helpers (main.ts runs them; see `workers` in RelayConfig). */
export interface RelayHelpers {
  /** A listener that helpers serve (its index in `listeners`) is listening: pass its socket on. */
  share(index: number, server: Server): void;
  /** The helpers' last reported status, and when each last saw a connection open or close. */
  statuses(): { status: RelayStatus; lastActivity: number }[];
  /** Asks every helper for a report now (they report every second anyway); resolves when in, or after 1 s. */
  refresh(): Promise<void>;
  /** Tells every helper to drain with this deadline and resolves when all have exited. */
  drain(deadlineMs: number): Promise<void>;
  /** Stops every helper at once and resolves when all have exited. */
  stop(): Promise<void>;
}

/** Whether helper processes serve a listener: TCP and unix listeners with an address or path upstream. */
export function sharedListener(c: RelayConfig["listeners"][number]): boolean {
  return c.kind !== "udp" && c.upstream.kind !== "ssh";
}

export interface DrainResult {
  /** Connections still open at the deadline, closed by force. */
  forced: number;
  durationMs: number;
}

export interface BoundListener {
  name: string;
  kind: "tcp" | "unix" | "udp";
  /** The port or path actually bound (port 0 in the config gets a free one). */
  port?: number;
  path?: string;
}

export interface RelayHandle {
  status(): RelayStatus;
  /** Listeners bound so far (with their real ports). */
  bound(): BoundListener[];
  /** Resolves when the handover (if any) has been done, with its report. */
  readonly handover: Promise<HandoverStatus | null>;
  /** Stop accepting, let open connections finish up to the deadline, close the rest, then stop. */
  drain(deadlineMs?: number): Promise<DrainResult>;
  /** Stop at once: close listeners and connections, remove redirect rules, close SSH. */
  stop(): Promise<void>;
  /** Resolves once the relay has stopped (by stop, drain, the admin socket or quiet). */
  readonly stopped: Promise<void>;
  /** In a helper process (`adopting`): serve listener `index` on a socket the main process listens on. */
  adopt(index: number, server: Server): void;
  /** Connections open now, and when one last opened or closed (for the main process's quiet stop). */
  activity(): { active: number; lastActivity: number };
}

interface StreamListener {
  config: TcpListenerConfig | UnixListenerConfig;
  server: Server;
  /** In a helper: the main process's listening sockets it serves. */
  adopted: Server[];
  stats: ListenerStats;
  bound: boolean;
  /** For redirect: the service port whose connections arrive on the spare port. */
  servicePort: number | undefined;
}

/** Starts a relay from a plain-data config; resolves once every listener that binds at start is bound. */
export async function startRelay(input: RelayConfig, options: RelayOptions = {}): Promise<RelayHandle> {
  const config = parseRelayConfig(input);
  const log = options.log ?? (() => undefined);
  const now = options.now ?? Date.now;
  const resolved = resolveLimits(config.limits);
  // With several processes (workers), the connection limit is the relay's: each takes its share. A relay
  // that runs without helpers (nothing to share: UDP listeners, SSH upstreams) keeps all of it.
  const processes = options.helpers !== undefined || options.adopting === true ? (config.workers ?? 1) : 1;
  const limits = { ...resolved, maxConnections: Math.ceil(resolved.maxConnections / processes) };
  const stats = createStatsStore({ maxClients: config.maxClients ?? 10_000, now });
  const startedAt = new Date(now()).toISOString();
  const mode = config.handover?.mode ?? "none";
  const table = config.handover?.table ?? "cutover";
  const aliveSeconds = config.handover?.aliveSeconds ?? ALIVE_SECONDS;
  let state: RelayStatus["state"] = "running";
  let drainDeadline: string | null = null;
  const live = new Set<Link>();
  const streams: StreamListener[] = [];
  const udps: { listener: UdpListener; stats: ListenerStats }[] = [];
  const ssh = new Map<string, SshUpstream>();
  let admin: Server | undefined;
  let firewall: "nft" | "iptables" | undefined;
  let wakeHandover: (() => void) | undefined;
  /** The firewall rules of the handover (redirect, or the held SYNs of a rebind): removed on every exit path. */
  let guard: FirewallGuard | undefined;
  /** A previous relay's redirect still in force at start (a restart): taken over without a settle. */
  let adopted = false;
  const takeovers: UnixTakeover[] = [];
  let refusedLogged = 0;
  const handoverStatus: HandoverStatus | null =
    mode === "none"
      ? null
      : {
          mode,
          state: "waiting",
          at: config.handover?.at ?? null,
          gapMs: null,
          firewall: null,
          rules: [],
          stopped: [],
          error: null,
          ...(config.handover?.hold === undefined ? {} : { hold: planHoldStatus(config.handover.hold) }),
          ...(config.handover?.sync === undefined ? {} : { sync: planSyncReport(config.handover.sync) }),
        };
  /**
   * The hold (zero data loss): while `holding`, accepted connections wait here in arrival order, unread
   * (their bytes stay in the kernel's receive buffer, so the relay's memory per held connection is one
   * entry), until the services stopped and the sync ran; then each is passed upstream in that order.
   */
  let holding = false;
  /** Where a listener's connections go: its upstream, or the old service again after an aborted hold. */
  let upstreamFor = (l: StreamListener): UpstreamConfig => l.config.upstream;
  const waiting: Held[] = [];
  let holdTimer: NodeJS.Timeout | undefined;
  let holdAbort: AbortController | undefined;
  let holdStartedAt = 0;

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;

  for (const [name, s] of Object.entries(config.ssh ?? {}))
    ssh.set(name, createSshUpstream(name, s, { log, connectTimeoutMs: limits.connectTimeoutMs }));

  const connectUpstream = (
    u: UpstreamConfig,
    client: Socket,
    callback: (error: Error | undefined, up: Duplex | undefined) => void,
  ): void => {
    if (u.kind === "tcp") return connectSocket({ host: u.host, port: u.port }, limits, callback);
    if (u.kind === "unix") return connectSocket({ path: u.path }, limits, callback);
    ssh
      .get(u.via)!
      .forwardOut(u.host, u.port, client.remoteAddress ?? "127.0.0.1", client.remotePort ?? 0, limits.connectTimeoutMs)
      .then(
        (up) => callback(undefined, up),
        (error: Error) => callback(error, undefined),
      );
  };

  /** Whether a new connection may be taken now; a refusal is counted (and logged now and then). */
  const admit = (l: StreamListener): boolean => {
    if (state === "running" && stats.active < limits.maxConnections) return true;
    l.stats.refused++;
    if (refusedLogged++ % 1000 === 0)
      log(
        `${l.stats.name}: refused a connection: ${state !== "running" ? "draining" : `${limits.maxConnections} connections open (limits.maxConnections)`}`,
      );
    return false;
  };
  /** The PROXY protocol header for a connection, when the listener sends one. */
  const proxyHeader = (
    l: StreamListener,
    source: { address?: string | undefined; port?: number | undefined } | undefined,
    dest: () => { address?: string | undefined; port?: number | undefined } | undefined,
  ): Buffer | undefined => {
    if (l.config.proxyProtocol === undefined) return undefined;
    const d = dest();
    return encodeProxyHeader(l.config.proxyProtocol, {
      sourceAddress: source?.address,
      sourcePort: source?.port,
      destAddress: d?.address,
      destPort: l.servicePort ?? d?.port,
    });
  };
  const connectionClosed = (conn: LiveConnection) => {
    stats.close(conn);
    afterClose();
  };
  const upstreamFailed = (l: StreamListener, conn: LiveConnection, error: Error | undefined) => {
    l.stats.failed++;
    log(
      `${l.stats.name}: ${describeUpstream(l.config.upstream)} unreachable for ${conn.client.address}: ${error?.message}`,
    );
    connectionClosed(conn);
  };
  /** Tracks a joined link until it closes (a link can close while being joined: then it is not kept). */
  const track = (conn: LiveConnection, join: (onClose: () => void) => Link) => {
    const link = join(() => {
      live.delete(link);
      connectionClosed(conn);
    });
    if (!link.closed) live.add(link);
  };

  const onConnection = (l: StreamListener, client: Socket) => {
    client.on("error", ignore);
    if (!admit(l)) {
      client.resetAndDestroy();
      return;
    }
    if (holding && !holdRoom(l)) {
      client.resetAndDestroy();
      return;
    }
    if (l.config.kind === "tcp") client.setNoDelay(true);
    const conn = stats.open(l.stats, client.remoteAddress ?? "", client);
    const header = proxyHeader(l, { address: client.remoteAddress, port: client.remotePort }, () => ({
      address: client.localAddress,
      port: client.localPort,
    }));
    const forward = (u: UpstreamConfig, done?: (ok: boolean) => void) =>
      connectUpstream(u, client, (error, up) => {
        if (up === undefined) {
          client.resetAndDestroy();
          upstreamFailed(l, conn, error);
          done?.(false);
          return;
        }
        if (client.destroyed || state === "stopped") {
          client.destroy();
          up.destroy();
          connectionClosed(conn);
          done?.(false);
          return;
        }
        if (header !== undefined) up.write(header);
        track(conn, (onClose) => joinStreams(client, up, onClose, Date.now()));
        client.removeListener("error", ignore);
        client.resume();
        done?.(true);
      });
    if (holding)
      holdConnection({
        l,
        since: now(),
        forward,
        drop: () => {
          client.destroy();
          connectionClosed(conn);
        },
      });
    else forward(upstreamFor(l));
  };

  /** The fast path (raw.ts) for a connection accepted as a bare handle: the same rules as onConnection. */
  const onRawConnection = (l: StreamListener, client: RawHandle) => {
    const raw = rawPath!;
    if (!admit(l) || (holding && !holdRoom(l))) {
      raw.refuse(client);
      return;
    }
    const remote = raw.remoteAddress(client);
    const conn = stats.open(l.stats, remote?.address ?? "", client);
    // The local address costs a system call: only asked for a PROXY header.
    const header = proxyHeader(l, remote, () => raw.localAddress(client));
    const forward = (u: UpstreamConfig, done?: (ok: boolean) => void) =>
      raw.connect(u as { host: string; port: number } | { path: string }, limits.connectTimeoutMs, (error, up) => {
        if (up === undefined) {
          raw.refuse(client);
          upstreamFailed(l, conn, error);
          done?.(false);
          return;
        }
        if (state === "stopped") {
          raw.refuse(client);
          up.close();
          connectionClosed(conn);
          done?.(false);
          return;
        }
        track(conn, (onClose) => raw.join(client, up, header, onClose));
        done?.(true);
      });
    if (holding)
      holdConnection({
        l,
        since: now(),
        forward,
        drop: () => {
          raw.refuse(client);
          connectionClosed(conn);
        },
      });
    else forward(upstreamFor(l));
  };

  function holdConnection(h: Held): void {
    waiting.push(h);
    const hs = handoverStatus?.hold;
    if (hs !== undefined) hs.held++;
  }

  /** Whether one more connection may be held; past hold.maxConnections it is refused (and counted). */
  function holdRoom(l: StreamListener): boolean {
    const hs = handoverStatus?.hold;
    if (hs === undefined || waiting.length < hs.maxConnections) return true;
    hs.refused++;
    l.stats.refused++;
    if (hs.refused % 1000 === 1)
      log(`${l.stats.name}: refused a connection: ${hs.maxConnections} held already (handover.hold.maxConnections)`);
    return false;
  }

  // Idle connections: a sweep compares each link's byte count with the last one seen (no timer per
  // connection, nothing done per chunk); a link is closed between 1 and 1.25 × idleTimeoutMs idle.
  const idleSweep =
    limits.idleTimeoutMs > 0
      ? setInterval(
          () => {
            const t = Date.now();
            for (const link of live) {
              const bytes = link.bytes();
              if (bytes !== link.lastBytes) {
                link.lastBytes = bytes;
                link.lastChange = t;
              } else if (t - link.lastChange >= limits.idleTimeoutMs)
                link.destroy(new Error(`idle for ${limits.idleTimeoutMs} ms`));
            }
          },
          Math.min(60_000, Math.max(100, limits.idleTimeoutMs / 4)),
        ).unref()
      : undefined;

  // TCP keepalive for the connections that last: turned on by a sweep every keepAliveMs / 2, so a silent
  // connection gets its first probe between 1 and 1.5 × keepAliveMs after it opened (see Link.keepAlive).
  const keepAliveSweep =
    limits.keepAliveMs > 0
      ? setInterval(
          () => {
            for (const link of live) link.keepAlive(limits.keepAliveMs);
          },
          Math.max(500, limits.keepAliveMs / 2),
        ).unref()
      : undefined;

  // Read buffers of the fast path (raw.ts): a link idle since the last sweep gives its own back.
  const bufferSweep =
    rawPath === undefined
      ? undefined
      : setInterval(() => {
          for (const link of live) link.releaseIdleBuffers?.();
        }, 5_000).unref();

  // Quiet: stop by itself once nothing was open and nothing arrived for drain.quietMs.
  const quietMs = config.drain?.quietMs;
  const quietAfter = config.drain?.quietAfter === undefined ? 0 : Date.parse(config.drain.quietAfter);
  let quietTimer: NodeJS.Timeout | undefined;
  let stopByTimer: NodeJS.Timeout | undefined;
  const armQuiet = () => {
    if (quietMs === undefined || stopping !== undefined) return;
    clearTimeout(quietTimer);
    const a = activityAll();
    // While connections are open, look again within a second (not at once: lastActivity may be long past).
    const at = Math.max(a.last + quietMs, quietAfter, a.active > 0 ? now() + Math.min(quietMs, 1000) : 0);
    quietTimer = setTimeout(
      async () => {
        await options.helpers?.refresh(); // a helper's connection may be newer than its last report
        if (stopping !== undefined || state !== "running") return;
        const b = activityAll();
        if (b.active === 0 && now() >= b.last + quietMs && now() >= quietAfter) {
          log(`quiet for ${quietMs} ms: stopping`);
          void drain(0);
        } else armQuiet();
      },
      Math.min(2_147_000_000, Math.max(0, at - now())),
    );
  };
  const afterClose = () => {
    if (stats.active === 0) {
      armQuiet();
      if (state === "draining") drainedWaiters.splice(0).forEach((w) => w());
    }
  };
  const drainedWaiters: (() => void)[] = [];

  const makeStreamListener = (c: TcpListenerConfig | UnixListenerConfig): StreamListener => {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const redirected = c.kind === "tcp" && mode === "redirect";
    const initialListen =
      c.kind === "unix"
        ? c.path
        : `${formatHost(c.host ?? "::")}:${redirected ? (c.sparePort ?? defaultSparePort(c.port)) : c.port}${redirected ? ` (redirected from ${c.port})` : ""}`;
    const l: StreamListener = {
      config: c,
      server,
      adopted: [],
      bound: false,
      servicePort: redirected ? c.port : undefined,
      stats: stats.listener({
        name: listenerName(c),
        kind: c.kind,
        listen: initialListen,
        upstream: describeUpstream(c.upstream),
        proxyProtocol: c.proxyProtocol ?? null,
      }),
    };
    serve(l, server);
    // Every listen (the first, a rebind, a unix-socket takeover) is passed on to the helpers, if any.
    const helpers = options.helpers;
    if (helpers !== undefined && sharedListener(c))
      server.on("listening", () => helpers.share(config.listeners.indexOf(c), server));
    streams.push(l);
    return l;
  };

  /** In a helper: serve listener `index` on a listening socket passed by the main process. */
  const adopt = (index: number, server: Server) => {
    const l = byIndex[index];
    if (l === undefined || state !== "running") {
      server.close();
      return;
    }
    l.adopted.push(server);
    l.bound = true;
    serve(l, server);
  };

  /**
   * Handles the connections `server` accepts for `l`. Listeners whose upstream is an address or a unix
   * path take the fast path when Node allows it; SSH upstreams and host names go through net.Socket
   * streams, and so does a connection accepted before the fast path took the socket over (an adopted one).
   */
  function serve(l: StreamListener, server: Server): void {
    const u = l.config.upstream;
    const raw = u.kind === "unix" || (u.kind === "tcp" && isIP(u.host) !== 0) ? rawPath : undefined;
    if (raw !== undefined)
      raw.acceptRaw(
        server,
        (h) => onRawConnection(l, h),
        (error) => log(`${l.stats.name}: ${error.message}`),
      );
    server.on("connection", (s: Socket) => onConnection(l, s));
    server.on("error", (error) => log(`${l.stats.name}: ${error.message}`));
  }
  const byIndex: StreamListener[] = [];

  const bindTcp = async (l: StreamListener, port: number) => {
    const c = l.config as TcpListenerConfig;
    const hosts = c.host === undefined ? ["::", "0.0.0.0"] : [c.host];
    for (const host of hosts) {
      try {
        await new Promise<void>((resolve, reject) => {
          l.server.once("error", reject);
          l.server.listen({ host, port, backlog: limits.backlog, ipv6Only: false }, () => {
            l.server.off("error", reject);
            resolve();
          });
        });
        l.bound = true;
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EAFNOSUPPORT" && host === "::") continue; // no IPv6 on this host
        if (code === "EADDRINUSE")
          throw new RelayError(`${formatHost(host)}:${port} is in use by another program`, {
            code: "E_BIND_IN_USE",
            hint: "stop the service first, or use handover mode rebind or redirect",
          });
        if (code === "EACCES")
          throw new RelayError(
            `no permission to listen on port ${port} (ports below 1024 need root or CAP_NET_BIND_SERVICE)`,
            {
              code: "E_BIND_PERMISSION",
            },
          );
        throw new RelayError(`cannot listen on ${formatHost(host)}:${port}: ${(error as Error).message}`, {
          code: "E_BIND",
          cause: error,
        });
      }
    }
  };

  const bindUnix = async (l: StreamListener, retryMs: number) => {
    const c = l.config as UnixListenerConfig;
    const until = performance.now() + retryMs;
    for (;;) {
      try {
        await listenUnix(l.server, c.path, {
          mode: parseMode(c.mode, 0o666),
          owner: c.owner,
          group: c.group,
          backlog: limits.backlog,
        });
        l.bound = true;
        return;
      } catch (error) {
        if ((error as RelayError).code !== "E_UNIX_IN_USE" || performance.now() > until) throw error;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };

  const isAccepting = () => state === "running";
  try {
    for (const s of ssh.values()) await s.ready();
    if (mode !== "none" && options.adopting !== true) {
      firewall =
        mode === "redirect"
          ? await chooseFirewall(config.handover?.firewall)
          : await findFirewall(config.handover?.firewall);
      if (firewall === undefined) log(REBIND_WITHOUT_FIREWALL);
      else {
        const due = config.handover?.at === undefined || Date.parse(config.handover.at) <= now();
        if (due && (await redirectAlive(firewall, table))) {
          // A relay restarted after its handover: the rules stay (they hold new connections until this relay
          // listens) and are replaced in one transaction at the handover.
          adopted = true;
          log(`found the rules of a previous relay still in force (${firewall}, ${table}): taking them over`);
        } else {
          const leftovers = await removeRedirect(firewall, table);
          if (leftovers > 0) log(`removed redirect rules a previous relay left behind (${firewall}, ${table})`);
        }
        guard = createFirewallGuard(firewall, table, log);
      }
    }
    for (const [index, c] of config.listeners.entries()) {
      if (c.kind === "udp") {
        const st = stats.listener({
          name: listenerName(c),
          kind: "udp",
          listen: `${formatHost(c.host ?? "::")}:${c.port}`,
          upstream: describeUpstream(c.upstream),
          proxyProtocol: null,
        });
        const listener = createUdpListener(c, stats, st, isAccepting, afterClose);
        udps.push({ listener, stats: st });
        if (mode !== "rebind") {
          await listener.bind();
          const a = listener.address();
          st.listen = `${formatHost(a.address)}:${a.port}`;
        }
        continue;
      }
      const l = makeStreamListener(c);
      byIndex[index] = l;
      if (options.adopting === true) continue; // the main process listens; adopt() serves its sockets
      if (c.kind === "tcp" && mode === "none") await bindTcp(l, c.port);
      if (c.kind === "tcp" && mode === "redirect") {
        if (c.sparePort !== undefined) await bindTcp(l, c.sparePort);
        else {
          // The default spare port may be taken by another program: then any free port will do (the
          // redirect rule is written with the port actually bound).
          try {
            await bindTcp(l, defaultSparePort(c.port));
          } catch (error) {
            if ((error as RelayError).code !== "E_BIND_IN_USE") throw error;
            log(`${l.stats.name}: spare port ${defaultSparePort(c.port)} is in use; listening on a free port instead`);
            await bindTcp(l, 0);
          }
        }
      }
      if (c.kind === "unix" && mode === "none") await bindUnix(l, 0);
      if (l.bound) l.stats.listen = listenText(l);
    }
    if (config.admin !== undefined) admin = await startAdminServer(config.admin.path, (r) => onAdmin(r));
  } catch (error) {
    await stop();
    throw error;
  }

  for (const l of streams)
    if (l.bound)
      log(
        `${l.stats.name}: listening on ${l.stats.listen} → ${l.stats.upstream}${l.config.proxyProtocol ? ` (PROXY ${l.config.proxyProtocol})` : ""}`,
      );
  if (streams.length > 0)
    log(
      rawPath === undefined
        ? `data path: net.Socket streams (${process.env.CUTOVER_RELAY_DATA_PATH === "streams" ? "CUTOVER_RELAY_DATA_PATH=streams" : `Node ${process.version}'s handle classes are not the ones expected`})`
        : "data path: libuv handles (SSH and host-name upstreams: streams)",
    );

  async function doHandover(): Promise<HandoverStatus | null> {
    if (handoverStatus === null) return null;
    const h = handoverStatus;
    const at = config.handover?.at === undefined ? now() : Date.parse(config.handover.at);
    // Wait by the old host's clock, waking at least each minute (a clock stepped by NTP is noticed); stop()
    // wakes it at once, or the timer would keep a stopped relay's process alive until it fired.
    while (now() < at && stopping === undefined)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(at - now(), 60_000));
        wakeHandover = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    wakeHandover = undefined;
    // A relay that stops or drains before (or during) its handover does not start (or finish) it.
    const cancelled = () => state !== "running";
    if (cancelled()) return h;
    const services = config.handover?.services ?? [];
    const stopCommand = config.handover?.stopCommand ?? ["systemctl", "stop", "{service}"];
    const timeout = config.handover?.rebindTimeoutMs ?? 30_000;
    try {
      if (mode === "redirect") {
        const rules: RedirectRule[] = streams
          .filter((l) => l.config.kind === "tcp")
          .map((l) => ({
            port: (l.config as TcpListenerConfig).port,
            sparePort: (l.server.address() as { port: number }).port,
          }));
        const plan = planRedirect(rules, firewall!, table, config.handover?.addresses ?? [], aliveSeconds);
        // The hold begins before the rules: the kernel redirects from the moment nft commits, which the relay
        // learns only when nft exits; a connection accepted in between must be held like the ones after it.
        startHold(h);
        if (!(await guard!.install(plan))) return h;
        h.firewall = firewall!;
        h.rules = plan.commands;
        log(
          `handover: ${firewall} now sends new connections on ${rules.map((r) => `${r.port}→${r.sparePort}`).join(", ")}`,
        );
        // Unix sockets: the relay's socket replaces the service's path at once (rename), so no client finds
        // the path missing; the service keeps the connections it has.
        for (const l of streams) {
          if (l.config.kind !== "unix") continue;
          const c = l.config;
          const t = await takeOverUnix(l.server, c.path, {
            mode: parseMode(c.mode, 0o666),
            owner: c.owner,
            group: c.group,
            backlog: limits.backlog,
          });
          takeovers.push(t);
          l.bound = true;
          l.stats.listen = c.path;
          log(`handover: ${c.path} now leads to the relay`);
        }
        if (!adopted) await new Promise((r) => setTimeout(r, config.handover?.settleMs ?? 1000));
        if (cancelled()) {
          // Stopped or drained before the services stop: whatever was held goes on as it would have.
          if (holding) await releaseHeld((l) => l.config.upstream);
          return h;
        }
        // A service that shuts down unlinks its socket path by name: put the relay's back at once.
        let stoppingServices = true;
        const relinker = (async () => {
          while (stoppingServices) {
            for (const t of takeovers) if (!(await isRelayLinked(t))) await relinkUnix(t).catch(() => undefined);
            await new Promise((r) => setTimeout(r, 2));
          }
        })();
        const stops = stopServices(services, stopCommand, log).finally(() => (stoppingServices = false));
        if (h.hold !== undefined) await finishHold(h, stops);
        const result = await stops;
        await relinker;
        for (const t of takeovers) if (!(await isRelayLinked(t))) await relinkUnix(t);
        h.stopped = result.stopped;
        for (const u of udps) await u.listener.bind();
        if (result.failed.length > 0) h.error = `could not stop: ${result.failed.join("; ")}`;
      } else {
        // rebind: stop the services while trying to bind their ports every few ms. Meanwhile the firewall
        // holds new connections to a port nobody listens on (drops their SYN: the client sends it again).
        // First every new SYN is held, even while the service still listens, until its accept queue is
        // empty: a connection still queued when the service closes its listening socket would be reset.
        const ports = streams.flatMap((l) => (l.config.kind === "tcp" ? [l.config.port] : []));
        let held: FirewallPlan | undefined;
        if (guard !== undefined && ports.length > 0) {
          const all = planFirewall({ redirects: [], hold: ports, holdAll: true, aliveSeconds }, firewall!, table);
          try {
            if (!(await guard.install(all))) return h;
            held = planFirewall({ redirects: [], hold: ports, aliveSeconds }, firewall!, table);
            h.firewall = firewall!;
            h.rules = held.commands;
            log(`handover: ${firewall} holds new connections on ${ports.join(", ")} until the relay listens there`);
            const left = await waitForAcceptQueues(ports, config.handover?.settleMs ?? 1000);
            if (left !== null && left.queued + left.halfOpen > 0)
              log(
                `handover: ${left.queued + left.halfOpen} connection(s) still waited to be accepted by the old service; stopping it anyway`,
              );
          } catch (error) {
            log(`handover: ${(error as Error).message}; ${REBIND_WITHOUT_FIREWALL}`);
          }
        }
        if (cancelled()) return h;
        startHold(h);
        const stopping = stopServices(services, stopCommand, log);
        // A service that could not be stopped keeps listening: narrow the hold at once, so its clients reach
        // it again instead of waiting out the bind's timeout behind rules that drop every SYN.
        void stopping.then(async (r) => {
          if (r.failed.length > 0 && held !== undefined) await guard!.install(held).catch(() => false);
        });
        const gaps = await Promise.all(
          streams.map(async (l) => {
            if (l.config.kind === "unix") {
              const t0 = performance.now();
              await bindUnix(l, timeout);
              return { name: l.stats.name, gap: 0, waited: performance.now() - t0 };
            }
            const c = l.config;
            const hosts = c.host ?? "::";
            const r = await bindWhenFree(l.server, { host: hosts, port: c.port, backlog: limits.backlog }, timeout);
            l.bound = true;
            l.stats.listen = listenText(l);
            return { name: l.stats.name, gap: r.gapMs, waited: 0 };
          }),
        );
        // The relay listens: from now on a SYN passes when someone listens (held SYNs at their next try).
        // The rules stay, matching nothing while it listens: if it dies and is restarted, new connections
        // wait for the new one instead of being refused.
        if (held !== undefined)
          await guard!
            .install(held)
            .catch((error: Error) =>
              log(`handover: ${error.message}; the hold rules were removed (a restarted relay's gap is refused)`),
            );
        for (const u of udps) await u.listener.bind();
        if (h.hold !== undefined) await finishHold(h, stopping);
        const result = await stopping;
        h.stopped = result.stopped;
        h.gapMs = Math.round(Math.max(0, ...gaps.map((g) => g.gap)) * 10) / 10;
        log(`handover: rebound ${gaps.map((g) => `${g.name} (gap ≤ ${g.gap.toFixed(1)} ms)`).join(", ")}`);
        if (result.failed.length > 0) h.error = `could not stop: ${result.failed.join("; ")}`;
      }
      if (h.state !== "aborted") h.state = "done";
    } catch (error) {
      h.state = "failed";
      h.error = (error as Error).message;
      log(`handover failed: ${h.error}`);
      // Connections held until now are not left waiting: they go where the hold's policy sends them.
      if (holding) {
        clearTimeout(holdTimer);
        await releaseHeld((l) => l.config.upstream);
      }
      // Nothing was stopped: the services keep their ports, and no rule sends their clients elsewhere.
      if (guard !== undefined && h.stopped.length === 0 && (await guard.close()) > 0)
        log(`removed the rules (${firewall} ${table})`);
    }
    return h;
  }

  /** From the moment the relay owns the ports: new connections wait (see `held`). */
  function startHold(h: HandoverStatus): void {
    const hs = h.hold;
    if (hs === undefined || holding) return;
    holding = true;
    holdStartedAt = now();
    hs.state = "holding";
    hs.startedAt = new Date(holdStartedAt).toISOString();
    h.state = "holding";
    const abort = new AbortController();
    holdAbort = abort;
    holdTimer = setTimeout(() => {
      log(`hold: ${hs.maxMs} ms reached (handover.hold.maxMs)`);
      abort.abort();
    }, hs.maxMs);
    log(
      `handover: holding new connections (at most ${hs.maxConnections}, for at most ${hs.maxMs} ms) while the services stop${config.handover?.sync?.length ? " and the sync runs" : ""}`,
    );
  }

  /**
   * Ends the hold: once the services stopped and the sync ran (or `maxMs` is up, whichever comes first), the
   * held connections go upstream in arrival order; with `onTimeout: abort`, a hold that did not sync gives
   * the ports back to the old services and releases the held connections to them.
   */
  async function finishHold(h: HandoverStatus, stops: Promise<{ stopped: string[]; failed: string[] }>): Promise<void> {
    const hs = h.hold!;
    const signal = holdAbort!.signal;
    const expired = new Promise<void>((resolve) =>
      signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    const stopResult = await Promise.race([stops, expired.then(() => undefined)]);
    const steps = config.handover?.sync ?? [];
    if (h.sync !== undefined) {
      if (stopResult !== undefined && stopResult.failed.length > 0) {
        // A service that did not stop may still write: syncing now could miss its last writes.
        h.sync.state = "failed";
        h.sync.error = `not run: could not stop ${stopResult.failed.join("; ")}`;
      } else if (signal.aborted) {
        h.sync.state = "timeout";
        h.sync.error = "not run: the services were still stopping when the hold's time was up";
      } else await runSync(steps, h.sync, { log, signal, promoteAnyway: hs.onTimeout === "release" });
    }
    clearTimeout(holdTimer);
    hs.outcome =
      state === "stopped"
        ? "stopped"
        : signal.aborted
          ? "timeout"
          : h.sync !== undefined && h.sync.state !== "done"
            ? "sync-failed"
            : "synced";
    if (state === "stopped") {
      for (const x of waiting.splice(0)) x.drop();
      holding = false;
      return;
    }
    if (hs.outcome !== "synced" && hs.onTimeout === "abort") {
      await abortHold(h, stops);
      return;
    }
    if (hs.outcome !== "synced") {
      const why = h.sync?.error ?? `the services did not stop within ${hs.maxMs} ms`;
      h.error = `released to the new host without a complete sync: ${why}`;
      log(`hold: ${h.error}`);
    }
    await releaseHeld((l) => l.config.upstream);
    hs.releasedTo = "upstream";
  }

  /** The old services run again and get their ports back; the held connections go to them. */
  async function abortHold(h: HandoverStatus, stops: Promise<{ stopped: string[]; failed: string[] }>): Promise<void> {
    const hs = h.hold!;
    log("hold: aborting: the old services start again and get the held connections");
    const stopped = (await stops).stopped;
    await thawOld(config.handover?.sync ?? [], log);
    if (mode === "rebind") {
      // The relay lets go of the ports it bound (the rebind's rules hold SYNs until the services listen).
      for (const l of streams) if (l.server.listening) l.server.close();
      for (const l of streams)
        if (l.config.kind === "unix") await rm(l.config.path, { force: true }).catch(() => undefined);
    }
    const startCommand = config.handover?.startCommand ?? ["systemctl", "start", "{service}"];
    const started = await stopServices(stopped, startCommand, log, "start");
    if (started.failed.length > 0) log(`hold: could not start ${started.failed.join("; ")}`);
    const oldTarget = (l: StreamListener): UpstreamConfig =>
      l.config.kind === "unix"
        ? { kind: "unix", path: l.config.path }
        : {
            kind: "tcp",
            host:
              l.config.host === undefined || l.config.host === "::" || l.config.host === "0.0.0.0"
                ? "127.0.0.1"
                : l.config.host,
            port: l.config.port,
          };
    await Promise.all(streams.map((l) => waitListening(oldTarget(l), 30_000)));
    // redirect: the rules stay as they are (changing NAT rules while redirected connections are open makes
    // the kernel forget their translation); what they still send to the relay goes to the old services too,
    // over 127.0.0.1, which the redirect (only the old host's own addresses, handover.addresses) leaves alone.
    if (mode === "redirect") upstreamFor = oldTarget;
    await releaseHeld(oldTarget);
    hs.state = "aborted";
    hs.releasedTo = "old-services";
    h.state = "aborted";
    h.error = `aborted: ${h.sync?.error ?? `the hold's time (${hs.maxMs} ms) was up`}; the old services run again (${started.stopped.join(" ") || "none started"})`;
    if (mode === "redirect") log(`hold: ${h.error}; the relay passes what still reaches it to them until stopped`);
    else {
      log(`hold: ${h.error}; the relay drains`);
      setImmediate(() => void drain());
    }
  }

  /** Passes every held connection upstream, in arrival order, each once the one before it is connected. */
  async function releaseHeld(target: (l: StreamListener) => UpstreamConfig): Promise<void> {
    const hs = handoverStatus?.hold;
    const n = waiting.length;
    // Still holding while the queue empties: a connection that arrives now waits behind the ones before it.
    while (waiting.length > 0) {
      const x = waiting.shift()!;
      if (hs !== undefined) hs.longestWaitMs = Math.max(hs.longestWaitMs, now() - x.since);
      if (state === "stopped") {
        x.drop();
        continue;
      }
      const ok = await new Promise<boolean>((resolve) => x.forward(target(x.l), resolve));
      if (!ok && hs !== undefined) hs.failed++;
    }
    holding = false;
    if (hs !== undefined) {
      hs.endedAt = new Date(now()).toISOString();
      hs.windowMs = now() - holdStartedAt;
      if (hs.state === "holding") hs.state = "released";
      log(
        `hold: released ${hs.held} connection(s) (${n} waiting at the end), window ${hs.windowMs} ms, longest wait ${hs.longestWaitMs} ms${hs.refused ? `, ${hs.refused} refused (maxConnections)` : ""}`,
      );
    }
  }

  const handover = doHandover();
  armQuiet();
  if (config.drain?.stopBy !== undefined) {
    const at = Date.parse(config.drain.stopBy);
    const check = () => {
      if (now() >= at) {
        log(`drain.stopBy ${config.drain!.stopBy} reached: draining`);
        void drain();
      } else stopByTimer = setTimeout(check, Math.min(at - now(), 3_600_000));
    };
    check();
  }

  async function onAdmin(r: AdminRequest): Promise<unknown> {
    if (r.cmd === "status") {
      await options.helpers?.refresh();
      return status();
    }
    if (r.cmd === "drain") {
      const deadline = typeof r.deadlineMs === "number" ? r.deadlineMs : (config.drain?.deadlineMs ?? 60_000);
      setImmediate(() => void drain(deadline));
      return { ok: true, draining: stats.active, deadlineMs: deadline };
    }
    if (r.cmd === "stop") {
      setImmediate(() => void stop());
      return { ok: true };
    }
    return {
      ok: false,
      error: `unknown command ${JSON.stringify((r as { cmd?: unknown }).cmd)}; expected status, drain or stop`,
    };
  }

  function status(): RelayStatus {
    const snap = stats.snapshot();
    for (const u of udps) {
      const l = snap.listeners.find((x) => x.name === u.stats.name);
      if (l) l.active = u.listener.flows;
    }
    const own: RelayStatus = {
      pid: process.pid,
      startedAt,
      now: new Date(now()).toISOString(),
      state,
      drainDeadline,
      active: snap.active,
      total: snap.total,
      listeners: snap.listeners,
      clients: snap.clients,
      handover: handoverStatus === null ? null : handoverSnapshot(handoverStatus),
      ...(options.restarts === undefined ? {} : { restarts: options.restarts }),
    };
    const helpers = (options.helpers?.statuses() ?? []).map((h) => h.status);
    return mergeStatuses(own, helpers, config.maxClients ?? 10_000);
  }

  function handoverSnapshot(h: HandoverStatus): HandoverStatus {
    const out = { ...h };
    if (h.hold !== undefined) {
      const hs = { ...h.hold, heldNow: waiting.length };
      if (holding) {
        hs.windowMs = now() - holdStartedAt;
        if (waiting.length > 0) hs.longestWaitMs = Math.max(hs.longestWaitMs, now() - waiting[0]!.since);
      }
      out.hold = hs;
    }
    if (h.sync !== undefined) out.sync = { ...h.sync, steps: h.sync.steps.map((s) => ({ ...s })) };
    return out;
  }

  /** Open connections and the last open or close, of this process and its helpers. */
  function activityAll(): { active: number; last: number } {
    let active = stats.active;
    let last = stats.lastActivity;
    for (const h of options.helpers?.statuses() ?? []) {
      active += h.status.active;
      last = Math.max(last, h.lastActivity);
    }
    return { active, last };
  }

  async function closeListeners(): Promise<void> {
    // Stops accepting at once; close()'s callback would wait for every open connection, so it is not awaited.
    for (const l of streams) {
      if (l.server.listening) l.server.close();
      for (const a of l.adopted) if (a.listening) a.close();
    }
    for (const u of udps) u.listener.close();
  }

  async function drain(deadlineMs = config.drain?.deadlineMs ?? 60_000): Promise<DrainResult> {
    const t0 = now();
    if (state !== "running") {
      await stopped;
      return { forced: 0, durationMs: 0 };
    }
    state = "draining";
    drainDeadline = new Date(t0 + deadlineMs).toISOString();
    if (holding && holdAbort !== undefined && !holdAbort.signal.aborted) {
      // The held connections cannot finish while held: the hold ends now, as if its time were up.
      log("draining during the hold: it ends now (hold.onTimeout decides where the held connections go)");
      holdAbort.abort();
    }
    log(`draining: ${activityAll().active} connection(s) open, deadline ${drainDeadline}`);
    await closeListeners();
    // Nothing accepts on the spare ports any more: new connections are refused, not held, from now on. (The
    // redirect itself stays until the end: removing it would end the translation of the open connections.)
    await guard?.releaseHold().catch((error: Error) => log(`could not remove the hold rules: ${error.message}`));
    const helpersDrained = options.helpers?.drain(deadlineMs);
    let forced = 0;
    if (stats.active > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        drainedWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      forced = live.size;
      if (forced > 0) log(`drain deadline: closing ${forced} connection(s) still open`);
    }
    await helpersDrained; // each helper keeps the same deadline and exits when done
    await stop();
    return { forced, durationMs: now() - t0 };
  }

  /** Removes the handover's rules (queued after any install under way, so none goes in later). */
  async function removeRules(): Promise<void> {
    if (guard === undefined) return;
    try {
      const first = !guard.closed;
      const n = await guard.close();
      if (n > 0 && first) log(`removed the redirect rules (${firewall} ${table})`);
    } catch (error) {
      log(`could not remove the redirect rules: ${(error as Error).message}`);
    }
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      state = "stopped";
      const helpersStopped = options.helpers?.stop();
      clearTimeout(quietTimer);
      clearTimeout(stopByTimer);
      wakeHandover?.();
      clearInterval(keepAliveSweep);
      clearInterval(idleSweep);
      clearInterval(bufferSweep);
      await closeListeners();
      clearTimeout(holdTimer);
      holdAbort?.abort();
      for (const x of waiting.splice(0)) x.drop();
      for (const t of takeovers) await releaseUnix(t);
      for (const link of Array.from(live)) link.destroy(); // a copy: closing removes entries
      await removeRules();
      for (const s of ssh.values()) s.close();
      admin?.close();
      await helpersStopped;
      log("stopped");
      resolveStopped();
    })();
    return stopping;
  }

  return {
    status,
    bound() {
      const out: BoundListener[] = [];
      for (const l of streams) {
        if (!l.server.listening) continue;
        const a = l.server.address();
        if (typeof a === "string") out.push({ name: l.stats.name, kind: "unix", path: a });
        else if (a) out.push({ name: l.stats.name, kind: "tcp", port: a.port });
      }
      for (const u of udps) {
        try {
          out.push({ name: u.stats.name, kind: "udp", port: u.listener.address().port });
        } catch {
          // not bound yet
        }
      }
      return out;
    },
    handover,
    drain: (deadlineMs?: number) => drain(deadlineMs),
    stop,
    stopped,
    adopt,
    activity: () => ({ active: stats.active, lastActivity: stats.lastActivity }),
  };
}

function ignore(): void {}

/** A connection waiting in the hold: `forward` connects it to an upstream and joins it (done tells how it went). */
interface Held {
  l: StreamListener;
  since: number;
  forward(upstream: UpstreamConfig, done: (ok: boolean) => void): void;
  drop(): void;
}

function planHoldStatus(c: HoldConfig): HoldStatus {
  return {
    state: "off",
    startedAt: null,
    endedAt: null,
    windowMs: null,
    heldNow: 0,
    held: 0,
    refused: 0,
    longestWaitMs: 0,
    maxConnections: c.maxConnections ?? 1000,
    maxMs: c.maxMs ?? 30_000,
    onTimeout: c.onTimeout ?? "release",
    outcome: null,
    releasedTo: null,
    failed: 0,
  };
}

/** Waits until something accepts at `u` (a service started again), trying every 50 ms up to `timeoutMs`. */
async function waitListening(u: UpstreamConfig, timeoutMs: number): Promise<boolean> {
  if (u.kind === "ssh") return true;
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = u.kind === "unix" ? connect({ path: u.path }) : connect({ host: u.host, port: u.port });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Where a bound listener really listens (port 0 in the config becomes the port the kernel chose). */
function listenText(l: StreamListener): string {
  const a = l.server.address();
  if (a === null || typeof a === "string") return l.stats.listen;
  const text = `${formatHost(a.address)}:${a.port}`;
  return l.servicePort === undefined ? text : `${text} (redirected from ${l.servicePort})`;
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
