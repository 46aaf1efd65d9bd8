/**
 * The handover as the relay runs it, at `handover.at`: redirect (firewall rules send new connections to the
 * relay's spare ports, then the services stop) or rebind (the services stop while the relay binds their
 * ports, the firewall holding new SYNs meanwhile), each with the hold (hold.ts) when configured. The rule
 * plans and the system-facing steps are in handover.ts. `redirect` and `rebind` resolve false when they
 * returned before the end (the relay stopped or drains, or the rules were not installed because it stops).
 */
import type { RelayConfig, ResolvedLimits, TcpListenerConfig } from "./config.js";
import type { RelayState } from "./connection.js";
import {
  bindWhenFree,
  planFirewall,
  planRedirect,
  REBIND_WITHOUT_FIREWALL,
  forgetClosedConnections,
  stopServices,
  waitForAcceptQueues,
  type FirewallGuard,
  type FirewallPlan,
  type RedirectRule,
} from "./handover.js";
import { toUpstream, type Hold } from "./hold.js";
import { bindUnix, listenText, type StreamListener } from "./listeners.js";
import type { UdpListener } from "./udp.js";
import { isRelayLinked, parseMode, relinkUnix, takeOverUnix, type UnixTakeover } from "./unix-socket.js";
import type { HandoverStatus } from "@cutover/core";

export interface HandoverContext {
  config: RelayConfig;
  limits: ResolvedLimits;
  log: (line: string) => void;
  now: () => number;
  /** The firewall found at start, and the guard of the rules this relay installs (none without a firewall). */
  firewall: "nft" | "iptables" | undefined;
  guard: FirewallGuard | undefined;
  table: string;
  aliveSeconds: number;
  /** A previous relay's redirect was still in force at start (a restart): no settle. */
  adopted: boolean;
  listeners: readonly StreamListener[];
  udps: readonly { listener: UdpListener }[];
  /** Unix-socket paths taken over from the services (released at stop). */
  takeovers: UnixTakeover[];
  hold: Hold;
  state(): RelayState;
  /** stop() was called. */
  stopping(): boolean;
  /** Sets what stop() calls to wake the wait for `handover.at` (undefined once it is over). */
  setWake(wake: (() => void) | undefined): void;
}

/** Waits for `handover.at`, then runs the handover; resolves with its status (also when cancelled or failed). */
export async function runHandover(ctx: HandoverContext, h: HandoverStatus): Promise<HandoverStatus> {
  const { config, log, now, guard } = ctx;
  await waitUntil(ctx, config.handover?.at === undefined ? now() : Date.parse(config.handover.at));
  // A relay that stops or drains before (or during) its handover does not start (or finish) it.
  if (ctx.state() !== "running") return h;
  try {
    const finished = config.handover?.mode === "redirect" ? await redirect(ctx, h) : await rebind(ctx, h);
    if (finished && h.state !== "aborted") h.state = "done";
  } catch (error) {
    h.state = "failed";
    h.error = (error as Error).message;
    log(`handover failed: ${h.error}`);
    // Connections held until now are not left waiting: they go where the hold's policy sends them.
    await ctx.hold.releaseAfterFailure();
    // Nothing was stopped: the services keep their ports, and no rule sends their clients elsewhere.
    if (guard !== undefined && h.stopped.length === 0 && (await guard.close()) > 0)
      log(`removed the rules (${ctx.firewall} ${ctx.table})`);
  }
  return h;
}

/**
 * Waits by the old host's clock, waking at least each minute (a clock stepped by NTP is noticed); stop()
 * wakes it at once, or the timer would keep a stopped relay's process alive until it fired.
 */
async function waitUntil(ctx: HandoverContext, at: number): Promise<void> {
  const { now } = ctx;
  while (now() < at && !ctx.stopping())
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(at - now(), 60_000));
      ctx.setWake(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  ctx.setWake(undefined);
}

/**
 * redirect: the relay listens on spare ports; the firewall sends new connections on the service ports there
 * (established ones stay with the services), unix-socket paths are taken over, then the services stop.
 */
async function redirect(ctx: HandoverContext, h: HandoverStatus): Promise<boolean> {
  const { config, log, limits, listeners, hold } = ctx;
  const firewall = ctx.firewall!;
  const cancelled = () => ctx.state() !== "running";
  const rules: RedirectRule[] = listeners
    .filter((l) => l.config.kind === "tcp")
    .map((l) => ({
      port: (l.config as TcpListenerConfig).port,
      sparePort: (l.server.address() as { port: number }).port,
    }));
  const plan = planRedirect(rules, firewall, ctx.table, config.handover?.addresses ?? [], ctx.aliveSeconds);
  // The hold begins before the rules: the kernel redirects from the moment nft commits, which the relay
  // learns only when nft exits; a connection accepted in between must be held like the ones after it.
  hold.start(h);
  if (!(await ctx.guard!.install(plan))) return false;
  h.firewall = firewall;
  h.rules = plan.commands;
  log(`handover: ${firewall} now sends new connections on ${rules.map((r) => `${r.port}→${r.sparePort}`).join(", ")}`);
  // Unix sockets: the relay's socket replaces the service's path at once (rename), so no client finds
  // the path missing; the service keeps the connections it has.
  for (const l of listeners) {
    if (l.config.kind !== "unix") continue;
    const c = l.config;
    const t = await takeOverUnix(l.server, c.path, {
      mode: parseMode(c.mode, 0o666),
      owner: c.owner,
      group: c.group,
      backlog: limits.backlog,
    });
    ctx.takeovers.push(t);
    l.bound = true;
    l.stats.listen = c.path;
    log(`handover: ${c.path} now leads to the relay`);
  }
  if (!ctx.adopted) await new Promise((r) => setTimeout(r, config.handover?.settleMs ?? 1000));
  if (cancelled()) {
    // Stopped or drained before the services stop: whatever was held goes on as it would have.
    if (hold.holding) await hold.release(toUpstream);
    return false;
  }
  // A service that shuts down unlinks its socket path by name: put the relay's back at once.
  let stoppingServices = true;
  const relinker = (async () => {
    while (stoppingServices) {
      for (const t of ctx.takeovers) if (!(await isRelayLinked(t))) await relinkUnix(t).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const stops = stopServices(config.handover?.services ?? [], stopCommand(config), log).finally(
    () => (stoppingServices = false),
  );
  // The connections the services reset must not keep their (un-redirected) tracking entries.
  const forgotten = stops.then(() =>
    forgetClosedConnections(
      rules.map((r) => r.port),
      log,
    ),
  );
  if (h.hold !== undefined) await hold.finish(h, stops);
  const result = await stops;
  await forgotten;
  await relinker;
  for (const t of ctx.takeovers) if (!(await isRelayLinked(t))) await relinkUnix(t);
  h.stopped = result.stopped;
  for (const u of ctx.udps) await u.listener.bind();
  if (result.failed.length > 0) h.error = `could not stop: ${result.failed.join("; ")}`;
  return true;
}

/**
 * rebind: stop the services while trying to bind their ports every few ms. Meanwhile the firewall holds new
 * connections to a port nobody listens on (drops their SYN: the client sends it again). First every new SYN
 * is held, even while the service still listens, until its accept queue is empty: a connection still queued
 * when the service closes its listening socket would be reset.
 */
async function rebind(ctx: HandoverContext, h: HandoverStatus): Promise<boolean> {
  const { config, log, limits, listeners, hold, guard, table, aliveSeconds } = ctx;
  const firewall = ctx.firewall!;
  const timeout = config.handover?.rebindTimeoutMs ?? 30_000;
  const ports = listeners.flatMap((l) => (l.config.kind === "tcp" ? [l.config.port] : []));
  let held: FirewallPlan | undefined;
  if (guard !== undefined && ports.length > 0) {
    const all = planFirewall({ redirects: [], hold: ports, holdAll: true, aliveSeconds }, firewall, table);
    try {
      if (!(await guard.install(all))) return false;
      held = planFirewall({ redirects: [], hold: ports, aliveSeconds }, firewall, table);
      h.firewall = firewall;
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
  if (ctx.state() !== "running") return false;
  hold.start(h);
  const stopping = stopServices(config.handover?.services ?? [], stopCommand(config), log);
  // A service that could not be stopped keeps listening: narrow the hold at once, so its clients reach
  // it again instead of waiting out the bind's timeout behind rules that drop every SYN.
  void stopping.then(async (r) => {
    if (r.failed.length > 0 && held !== undefined) await guard!.install(held).catch(() => false);
  });
  const gaps = await Promise.all(
    listeners.map(async (l) => {
      if (l.config.kind === "unix") {
        const t0 = performance.now();
        await bindUnix(l, timeout, limits.backlog);
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
  for (const u of ctx.udps) await u.listener.bind();
  if (h.hold !== undefined) await hold.finish(h, stopping);
  const result = await stopping;
  h.stopped = result.stopped;
  h.gapMs = Math.round(Math.max(0, ...gaps.map((g) => g.gap)) * 10) / 10;
  log(`handover: rebound ${gaps.map((g) => `${g.name} (gap ≤ ${g.gap.toFixed(1)} ms)`).join(", ")}`);
  if (result.failed.length > 0) h.error = `could not stop: ${result.failed.join("; ")}`;
  return true;
}

function stopCommand(config: RelayConfig): string[] {
  return config.handover?.stopCommand ?? ["systemctl", "stop", "{service}"];
}
