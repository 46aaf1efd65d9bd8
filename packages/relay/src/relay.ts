import type { Socket, Server } from "node:net";
import type { Duplex } from "node:stream";
import { startAdminServer, type AdminRequest } from "./admin.js";
import {
  defaultSparePort,
  describeUpstream,
  listenerName,
  parseRelayConfig,
  resolveLimits,
  type RelayConfig,
  type ResolvedLimits,
  type TcpListenerConfig,
  type UnixListenerConfig,
} from "./config.js";
import { ConnectionHandler, type RelayState } from "./connection.js";
import { createStreamPath, rawReaches, type DataPath } from "./data-path.js";
import type { RelayError } from "./errors.js";
import {
  ALIVE_SECONDS,
  chooseFirewall,
  createFirewallGuard,
  findFirewall,
  redirectAlive,
  removeRedirect,
  REBIND_WITHOUT_FIREWALL,
  type FirewallGuard,
} from "./handover.js";
import { Hold, planHoldStatus } from "./hold.js";
import { bindTcp, bindUnix, createStreamListener, formatHost, listenText, type StreamListener } from "./listeners.js";
import { rawPath } from "./raw.js";
import { runHandover, type HandoverContext } from "./run-handover.js";
import { createSshUpstream, type SshUpstream } from "./ssh.js";
import { createStatsStore, mergeStatuses, type ListenerStats, type RelayStatus, type StatsStore } from "./stats.js";
import type { RestartRecord } from "./supervise.js";
import { startSweeps, type Sweeps } from "./sweeps.js";
import { planSyncReport } from "./sync.js";
import { createUdpListener, type UdpListener } from "./udp.js";
import { releaseUnix, type UnixTakeover } from "./unix-socket.js";
import type { HandoverStatus } from "@cutover/core";

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

/** Starts a relay from a plain-data config; resolves once every listener that binds at start is bound. */
export async function startRelay(input: RelayConfig, options: RelayOptions = {}): Promise<RelayHandle> {
  const relay = new Relay(parseRelayConfig(input), options);
  await relay.start();
  return relay.handle();
}

/**
 * One relay process. Its parts: the listeners (listeners.ts) and the data paths they serve (data-path.ts,
 * raw.ts), the one connection handler (connection.ts), the sweeps (sweeps.ts), the hold (hold.ts) and the
 * handover (run-handover.ts); here, what binds them together: start, the status, the admin socket, the
 * quiet and stopBy timers, drain and stop.
 */
class Relay {
  private readonly config: RelayConfig;
  private readonly options: RelayOptions;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly limits: ResolvedLimits;
  private readonly stats: StatsStore;
  private readonly startedAt: string;
  private readonly mode: "none" | "redirect" | "rebind";
  private readonly table: string;
  private state: RelayState = "running";
  private drainDeadline: string | null = null;
  private readonly streams: StreamListener[] = [];
  /** Stream listeners by their index in `config.listeners` (a helper adopts its sockets by index). */
  private readonly byIndex: StreamListener[] = [];
  private readonly udps: { listener: UdpListener; stats: ListenerStats }[] = [];
  private readonly ssh = new Map<string, SshUpstream>();
  private readonly streamPath: DataPath<Socket, Duplex>;
  private readonly connections: ConnectionHandler<StreamListener>;
  private readonly sweeps: Sweeps;
  private readonly hold: Hold;
  private readonly handoverStatus: HandoverStatus | null;
  private handover: Promise<HandoverStatus | null> = Promise.resolve(null);
  private admin: Server | undefined;
  private firewall: "nft" | "iptables" | undefined;
  /** The firewall rules of the handover (redirect, or the held SYNs of a rebind): removed on every exit path. */
  private guard: FirewallGuard | undefined;
  /** A previous relay's redirect still in force at start (a restart): taken over without a settle. */
  private adopted = false;
  private readonly takeovers: UnixTakeover[] = [];
  private wakeHandover: (() => void) | undefined;
  private quietTimer: NodeJS.Timeout | undefined;
  private stopByTimer: NodeJS.Timeout | undefined;
  /** A drain waiting for the last connection to close. */
  private readonly drainedWaiters: (() => void)[] = [];
  private stopping: Promise<void> | undefined;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  constructor(config: RelayConfig, options: RelayOptions) {
    this.config = config;
    this.options = options;
    const log = (this.log = options.log ?? (() => undefined));
    const now = (this.now = options.now ?? Date.now);
    const resolved = resolveLimits(config.limits);
    // With several processes (workers), the connection limit is the relay's: each takes its share. A relay
    // that runs without helpers (nothing to share: UDP listeners, SSH upstreams) keeps all of it.
    const processes = options.helpers !== undefined || options.adopting === true ? (config.workers ?? 1) : 1;
    this.limits = { ...resolved, maxConnections: Math.ceil(resolved.maxConnections / processes) };
    this.stats = createStatsStore({ maxClients: config.maxClients ?? 10_000, now });
    this.startedAt = new Date(now()).toISOString();
    this.mode = config.handover?.mode ?? "none";
    this.table = config.handover?.table ?? "cutover";
    this.handoverStatus =
      this.mode === "none"
        ? null
        : {
            mode: this.mode,
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
    for (const [name, s] of Object.entries(config.ssh ?? {}))
      this.ssh.set(name, createSshUpstream(name, s, { log, connectTimeoutMs: this.limits.connectTimeoutMs }));
    this.streamPath = createStreamPath({ limits: this.limits, ssh: this.ssh });
    const state = () => this.state;
    this.hold = new Hold({
      config,
      status: this.handoverStatus,
      log,
      now,
      state,
      listeners: this.streams,
      drain: () => void this.drain(),
    });
    this.connections = new ConnectionHandler({
      stats: this.stats,
      limits: this.limits,
      log,
      now,
      state,
      hold: this.hold,
      upstreamFor: (l) => this.hold.upstreamFor(l),
      afterClose: () => this.afterClose(),
    });
    this.sweeps = startSweeps(this.connections.live, this.limits, { buffers: rawPath !== undefined });
  }

  /** Binds what binds at start (or fails, stopped), then waits for the handover and arms the timers. */
  async start(): Promise<void> {
    const { config, log } = this;
    try {
      await this.prepare();
    } catch (error) {
      await this.stop();
      throw error;
    }
    for (const l of this.streams)
      if (l.bound)
        log(
          `${l.stats.name}: listening on ${l.stats.listen} → ${l.stats.upstream}${l.config.proxyProtocol ? ` (PROXY ${l.config.proxyProtocol})` : ""}`,
        );
    if (this.streams.length > 0)
      log(
        rawPath === undefined
          ? `data path: net.Socket streams (${process.env.CUTOVER_RELAY_DATA_PATH === "streams" ? "CUTOVER_RELAY_DATA_PATH=streams" : `Node ${process.version}'s handle classes are not the ones expected`})`
          : "data path: libuv handles (SSH and host-name upstreams: streams)",
      );
    if (this.handoverStatus !== null) this.handover = runHandover(this.handoverContext(), this.handoverStatus);
    this.armQuiet();
    if (config.drain?.stopBy !== undefined) {
      const at = Date.parse(config.drain.stopBy);
      const check = () => {
        if (this.now() >= at) {
          log(`drain.stopBy ${config.drain!.stopBy} reached: draining`);
          void this.drain();
        } else this.stopByTimer = setTimeout(check, Math.min(at - this.now(), 3_600_000));
      };
      check();
    }
  }

  /** SSH connections, the firewall (and a previous relay's rules), the listeners, the admin socket. */
  private async prepare(): Promise<void> {
    const { config, log, mode, table, options } = this;
    for (const s of this.ssh.values()) await s.ready();
    if (mode !== "none" && options.adopting !== true) {
      const firewall =
        mode === "redirect"
          ? await chooseFirewall(config.handover?.firewall)
          : await findFirewall(config.handover?.firewall);
      this.firewall = firewall;
      if (firewall === undefined) log(REBIND_WITHOUT_FIREWALL);
      else {
        const due = config.handover?.at === undefined || Date.parse(config.handover.at) <= this.now();
        if (due && (await redirectAlive(firewall, table))) {
          // A relay restarted after its handover: the rules stay (they hold new connections until this relay
          // listens) and are replaced in one transaction at the handover.
          this.adopted = true;
          log(`found the rules of a previous relay still in force (${firewall}, ${table}): taking them over`);
        } else {
          const leftovers = await removeRedirect(firewall, table);
          if (leftovers > 0) log(`removed redirect rules a previous relay left behind (${firewall}, ${table})`);
        }
        this.guard = createFirewallGuard(firewall, table, log);
      }
    }
    const backlog = this.limits.backlog;
    for (const [index, c] of config.listeners.entries()) {
      if (c.kind === "udp") {
        const st = this.stats.listener({
          name: listenerName(c),
          kind: "udp",
          listen: `${formatHost(c.host ?? "::")}:${c.port}`,
          upstream: describeUpstream(c.upstream),
          proxyProtocol: null,
        });
        const listener = createUdpListener(
          c,
          this.stats,
          st,
          () => this.state === "running",
          () => this.afterClose(),
        );
        this.udps.push({ listener, stats: st });
        if (mode !== "rebind") {
          await listener.bind();
          const a = listener.address();
          st.listen = `${formatHost(a.address)}:${a.port}`;
        }
        continue;
      }
      const l = this.addStreamListener(c);
      this.byIndex[index] = l;
      if (options.adopting === true) continue; // the main process listens; adopt() serves its sockets
      if (c.kind === "tcp" && mode === "none") await bindTcp(l, c.port, backlog);
      if (c.kind === "tcp" && mode === "redirect") {
        if (c.sparePort !== undefined) await bindTcp(l, c.sparePort, backlog);
        else {
          // The default spare port may be taken by another program: then any free port will do (the
          // redirect rule is written with the port actually bound).
          try {
            await bindTcp(l, defaultSparePort(c.port), backlog);
          } catch (error) {
            if ((error as RelayError).code !== "E_BIND_IN_USE") throw error;
            log(`${l.stats.name}: spare port ${defaultSparePort(c.port)} is in use; listening on a free port instead`);
            await bindTcp(l, 0, backlog);
          }
        }
      }
      if (c.kind === "unix" && mode === "none") await bindUnix(l, 0, backlog);
      if (l.bound) l.stats.listen = listenText(l);
    }
    if (config.admin !== undefined) this.admin = await startAdminServer(config.admin.path, (r) => this.onAdmin(r));
  }

  private addStreamListener(c: TcpListenerConfig | UnixListenerConfig): StreamListener {
    const l = createStreamListener(c, this.stats, this.mode === "redirect");
    this.serve(l, l.server);
    // Every listen (the first, a rebind, a unix-socket takeover) is passed on to the helpers, if any.
    const helpers = this.options.helpers;
    if (helpers !== undefined && sharedListener(c))
      l.server.on("listening", () => helpers.share(this.config.listeners.indexOf(c), l.server));
    this.streams.push(l);
    return l;
  }

  /**
   * Hands the connections `server` accepts for `l` to the connection handler, on a data path: the fast path
   * (raw.ts) when Node allows it and the upstream is an address or a unix path; SSH upstreams and host names
   * go through net.Socket streams, and so does a connection accepted before the fast path took the socket
   * over (an adopted one).
   */
  private serve(l: StreamListener, server: Server): void {
    const onError = (error: Error) => this.log(`${l.stats.name}: ${error.message}`);
    const raw = rawPath !== undefined && rawReaches(l.config.upstream) ? rawPath : undefined;
    const connections = this.connections;
    if (raw !== undefined) raw.accept(server, (h) => connections.handle(raw, l, h), onError);
    const streams = this.streamPath;
    streams.accept(server, (s) => connections.handle(streams, l, s), onError);
    server.on("error", onError);
  }

  /** In a helper: serve listener `index` on a listening socket passed by the main process. */
  adopt(index: number, server: Server): void {
    const l = this.byIndex[index];
    if (l === undefined || this.state !== "running") {
      server.close();
      return;
    }
    l.adopted.push(server);
    l.bound = true;
    this.serve(l, server);
  }

  private handoverContext(): HandoverContext {
    return {
      config: this.config,
      limits: this.limits,
      log: this.log,
      now: this.now,
      firewall: this.firewall,
      guard: this.guard,
      table: this.table,
      aliveSeconds: this.config.handover?.aliveSeconds ?? ALIVE_SECONDS,
      adopted: this.adopted,
      listeners: this.streams,
      udps: this.udps,
      takeovers: this.takeovers,
      hold: this.hold,
      state: () => this.state,
      stopping: () => this.stopping !== undefined,
      setWake: (wake) => (this.wakeHandover = wake),
    };
  }

  // --- quiet: stop by itself once nothing was open and nothing arrived for drain.quietMs

  private armQuiet(): void {
    const quietMs = this.config.drain?.quietMs;
    if (quietMs === undefined || this.stopping !== undefined) return;
    const quietAfter = this.config.drain?.quietAfter === undefined ? 0 : Date.parse(this.config.drain.quietAfter);
    const now = this.now;
    clearTimeout(this.quietTimer);
    const a = this.activityAll();
    // While connections are open, look again within a second (not at once: lastActivity may be long past).
    const at = Math.max(a.last + quietMs, quietAfter, a.active > 0 ? now() + Math.min(quietMs, 1000) : 0);
    this.quietTimer = setTimeout(
      async () => {
        await this.options.helpers?.refresh(); // a helper's connection may be newer than its last report
        if (this.stopping !== undefined || this.state !== "running") return;
        const b = this.activityAll();
        if (b.active === 0 && now() >= b.last + quietMs && now() >= quietAfter) {
          this.log(`quiet for ${quietMs} ms: stopping`);
          void this.drain(0);
        } else this.armQuiet();
      },
      Math.min(2_147_000_000, Math.max(0, at - now())),
    );
  }

  /** After a connection or a UDP flow closed: the quiet timer, and a drain waiting for the last one. */
  private afterClose(): void {
    if (this.stats.active === 0) {
      this.armQuiet();
      if (this.state === "draining") this.drainedWaiters.splice(0).forEach((w) => w());
    }
  }

  /** Open connections and the last open or close, of this process and its helpers. */
  private activityAll(): { active: number; last: number } {
    let active = this.stats.active;
    let last = this.stats.lastActivity;
    for (const h of this.options.helpers?.statuses() ?? []) {
      active += h.status.active;
      last = Math.max(last, h.lastActivity);
    }
    return { active, last };
  }

  // --- the admin socket and the status

  private async onAdmin(r: AdminRequest): Promise<unknown> {
    if (r.cmd === "status") {
      await this.options.helpers?.refresh();
      return this.status();
    }
    if (r.cmd === "drain") {
      const deadline = typeof r.deadlineMs === "number" ? r.deadlineMs : (this.config.drain?.deadlineMs ?? 60_000);
      setImmediate(() => void this.drain(deadline));
      return { ok: true, draining: this.stats.active, deadlineMs: deadline };
    }
    if (r.cmd === "stop") {
      setImmediate(() => void this.stop());
      return { ok: true };
    }
    return {
      ok: false,
      error: `unknown command ${JSON.stringify((r as { cmd?: unknown }).cmd)}; expected status, drain or stop`,
    };
  }

  status(): RelayStatus {
    const snap = this.stats.snapshot();
    for (const u of this.udps) {
      const l = snap.listeners.find((x) => x.name === u.stats.name);
      if (l) l.active = u.listener.flows;
    }
    const h = this.handoverStatus;
    const own: RelayStatus = {
      pid: process.pid,
      startedAt: this.startedAt,
      now: new Date(this.now()).toISOString(),
      state: this.state,
      drainDeadline: this.drainDeadline,
      active: snap.active,
      total: snap.total,
      listeners: snap.listeners,
      clients: snap.clients,
      handover:
        h === null
          ? null
          : {
              ...h,
              ...(h.hold === undefined ? {} : { hold: this.hold.snapshot(h.hold) }),
              ...(h.sync === undefined ? {} : { sync: { ...h.sync, steps: h.sync.steps.map((s) => ({ ...s })) } }),
            },
      ...(this.options.restarts === undefined ? {} : { restarts: this.options.restarts }),
    };
    const helpers = (this.options.helpers?.statuses() ?? []).map((x) => x.status);
    return mergeStatuses(own, helpers, this.config.maxClients ?? 10_000);
  }

  bound(): BoundListener[] {
    const out: BoundListener[] = [];
    for (const l of this.streams) {
      if (!l.server.listening) continue;
      const a = l.server.address();
      if (typeof a === "string") out.push({ name: l.stats.name, kind: "unix", path: a });
      else if (a) out.push({ name: l.stats.name, kind: "tcp", port: a.port });
    }
    for (const u of this.udps) {
      try {
        out.push({ name: u.stats.name, kind: "udp", port: u.listener.address().port });
      } catch {
        // not bound yet
      }
    }
    return out;
  }

  // --- drain and stop

  /** Stops accepting at once; close()'s callback would wait for every open connection, so it is not awaited. */
  private closeListeners(): void {
    for (const l of this.streams) {
      if (l.server.listening) l.server.close();
      for (const a of l.adopted) if (a.listening) a.close();
    }
    for (const u of this.udps) u.listener.close();
  }

  async drain(deadlineMs = this.config.drain?.deadlineMs ?? 60_000): Promise<DrainResult> {
    const { log, now } = this;
    const t0 = now();
    if (this.state !== "running") {
      await this.stopped;
      return { forced: 0, durationMs: 0 };
    }
    this.state = "draining";
    this.drainDeadline = new Date(t0 + deadlineMs).toISOString();
    this.hold.endForDrain();
    log(`draining: ${this.activityAll().active} connection(s) open, deadline ${this.drainDeadline}`);
    this.closeListeners();
    // Nothing accepts on the spare ports any more: new connections are refused, not held, from now on. (The
    // redirect itself stays until the end: removing it would end the translation of the open connections.)
    await this.guard?.releaseHold().catch((error: Error) => log(`could not remove the hold rules: ${error.message}`));
    const helpersDrained = this.options.helpers?.drain(deadlineMs);
    let forced = 0;
    if (this.stats.active > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadlineMs);
        this.drainedWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      forced = this.connections.live.size;
      if (forced > 0) log(`drain deadline: closing ${forced} connection(s) still open`);
    }
    await helpersDrained; // each helper keeps the same deadline and exits when done
    await this.stop();
    return { forced, durationMs: now() - t0 };
  }

  /** Removes the handover's rules (queued after any install under way, so none goes in later). */
  private async removeRules(): Promise<void> {
    const guard = this.guard;
    if (guard === undefined) return;
    try {
      const first = !guard.closed;
      const n = await guard.close();
      if (n > 0 && first) this.log(`removed the redirect rules (${this.firewall} ${this.table})`);
    } catch (error) {
      this.log(`could not remove the redirect rules: ${(error as Error).message}`);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.state = "stopped";
      const helpersStopped = this.options.helpers?.stop();
      clearTimeout(this.quietTimer);
      clearTimeout(this.stopByTimer);
      this.wakeHandover?.();
      this.sweeps.stop();
      this.closeListeners();
      this.hold.stop();
      for (const t of this.takeovers) await releaseUnix(t);
      this.connections.closeAll();
      await this.removeRules();
      for (const s of this.ssh.values()) s.close();
      this.admin?.close();
      await helpersStopped;
      this.log("stopped");
      this.resolveStopped();
    })();
    return this.stopping;
  }

  handle(): RelayHandle {
    return {
      status: () => this.status(),
      bound: () => this.bound(),
      handover: this.handover,
      drain: (deadlineMs?: number) => this.drain(deadlineMs),
      stop: () => this.stop(),
      stopped: this.stopped,
      adopt: (index, server) => this.adopt(index, server),
      activity: () => ({ active: this.stats.active, lastActivity: this.stats.lastActivity }),
    };
  }
}
