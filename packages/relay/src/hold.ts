/**
 * The hold (zero data loss): while `holding`, accepted connections wait in arrival order, unread (their
 * bytes stay in the kernel's receive buffer, so the relay's memory per held connection is one entry),
 * until the services stopped and the sync ran; then each is passed upstream in that order. With
 * `onTimeout: abort`, a hold that did not sync gives the ports back to the old services instead.
 */
import { rm } from "node:fs/promises";
import { connect } from "node:net";
import type { HoldConfig, RelayConfig, UpstreamConfig } from "./config.js";
import type { Held, HoldGate, RelayState } from "./connection.js";
import { stopServices } from "./handover.js";
import type { StreamListener } from "./listeners.js";
import { runSync, thawOld } from "./sync.js";
import type { HandoverStatus, HoldStatus } from "@cutover/core";

export interface HoldDeps {
  config: RelayConfig;
  /** The handover's status, whose `hold` part this hold keeps (null without a handover). */
  status: HandoverStatus | null;
  log: (line: string) => void;
  now: () => number;
  state(): RelayState;
  /** The relay's stream listeners (an aborted rebind closes them; the old services get their ports). */
  listeners: readonly StreamListener[];
  /** An aborted hold without redirect ends the relay: it drains. */
  drain(): void;
}

type Stops = Promise<{ stopped: string[]; failed: string[] }>;

/** Where a listener's connections normally go: its upstream. */
export const toUpstream = (l: StreamListener): UpstreamConfig => l.config.upstream;

export class Hold implements HoldGate<StreamListener> {
  holding = false;
  /** Where a listener's connections go: its upstream, or the old service again after an aborted redirect hold. */
  upstreamFor: (l: StreamListener) => UpstreamConfig = toUpstream;
  private readonly deps: HoldDeps;
  private readonly waiting: Held<StreamListener>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private abort: AbortController | undefined;
  private startedAt = 0;

  constructor(deps: HoldDeps) {
    this.deps = deps;
  }

  /** Whether one more connection may be held; past hold.maxConnections it is refused (and counted). */
  room(l: StreamListener): boolean {
    const hs = this.deps.status?.hold;
    if (hs === undefined || this.waiting.length < hs.maxConnections) return true;
    hs.refused++;
    l.stats.refused++;
    if (hs.refused % 1000 === 1)
      this.deps.log(
        `${l.stats.name}: refused a connection: ${hs.maxConnections} held already (handover.hold.maxConnections)`,
      );
    return false;
  }

  add(h: Held<StreamListener>): void {
    this.waiting.push(h);
    const hs = this.deps.status?.hold;
    if (hs !== undefined) hs.held++;
  }

  /** From the moment the relay owns the ports: new connections wait (see `add`). */
  start(h: HandoverStatus): void {
    const hs = h.hold;
    if (hs === undefined || this.holding) return;
    const { log, now, config } = this.deps;
    this.holding = true;
    this.startedAt = now();
    hs.state = "holding";
    hs.startedAt = new Date(this.startedAt).toISOString();
    h.state = "holding";
    const abort = new AbortController();
    this.abort = abort;
    this.timer = setTimeout(() => {
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
  async finish(h: HandoverStatus, stops: Stops): Promise<void> {
    const hs = h.hold!;
    const { config, log } = this.deps;
    const signal = this.abort!.signal;
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
    clearTimeout(this.timer);
    const stopped = this.deps.state() === "stopped";
    hs.outcome = stopped
      ? "stopped"
      : signal.aborted
        ? "timeout"
        : h.sync !== undefined && h.sync.state !== "done"
          ? "sync-failed"
          : "synced";
    if (stopped) {
      for (const x of this.waiting.splice(0)) x.drop();
      this.holding = false;
      return;
    }
    if (hs.outcome !== "synced" && hs.onTimeout === "abort") {
      await this.abortToOld(h, stops);
      return;
    }
    if (hs.outcome !== "synced") {
      const why = h.sync?.error ?? `the services did not stop within ${hs.maxMs} ms`;
      h.error = `released to the new host without a complete sync: ${why}`;
      log(`hold: ${h.error}`);
    }
    await this.release(toUpstream);
    hs.releasedTo = "upstream";
  }

  /** The old services run again and get their ports back; the held connections go to them. */
  private async abortToOld(h: HandoverStatus, stops: Stops): Promise<void> {
    const hs = h.hold!;
    const { config, log, listeners } = this.deps;
    const mode = config.handover?.mode ?? "none";
    log("hold: aborting: the old services start again and get the held connections");
    const stopped = (await stops).stopped;
    await thawOld(config.handover?.sync ?? [], log);
    if (mode === "rebind") {
      // The relay lets go of the ports it bound (the rebind's rules hold SYNs until the services listen).
      for (const l of listeners) if (l.server.listening) l.server.close();
      for (const l of listeners)
        if (l.config.kind === "unix") await rm(l.config.path, { force: true }).catch(() => undefined);
    }
    const startCommand = config.handover?.startCommand ?? ["systemctl", "start", "{service}"];
    const started = await stopServices(stopped, startCommand, log, "start");
    if (started.failed.length > 0) log(`hold: could not start ${started.failed.join("; ")}`);
    await Promise.all(listeners.map((l) => waitListening(oldService(l), 30_000)));
    // redirect: the rules stay as they are (changing NAT rules while redirected connections are open makes
    // the kernel forget their translation); what they still send to the relay goes to the old services too,
    // over 127.0.0.1, which the redirect (only the old host's own addresses, handover.addresses) leaves alone.
    if (mode === "redirect") this.upstreamFor = oldService;
    await this.release(oldService);
    hs.state = "aborted";
    hs.releasedTo = "old-services";
    h.state = "aborted";
    h.error = `aborted: ${h.sync?.error ?? `the hold's time (${hs.maxMs} ms) was up`}; the old services run again (${started.stopped.join(" ") || "none started"})`;
    if (mode === "redirect") log(`hold: ${h.error}; the relay passes what still reaches it to them until stopped`);
    else {
      log(`hold: ${h.error}; the relay drains`);
      setImmediate(() => this.deps.drain());
    }
  }

  /** Passes every held connection to `target`, in arrival order, each once the one before it is connected. */
  async release(target: (l: StreamListener) => UpstreamConfig): Promise<void> {
    const { now, log } = this.deps;
    const hs = this.deps.status?.hold;
    const waiting = this.waiting;
    const n = waiting.length;
    // Still holding while the queue empties: a connection that arrives now waits behind the ones before it.
    while (waiting.length > 0) {
      const x = waiting.shift()!;
      if (hs !== undefined) hs.longestWaitMs = Math.max(hs.longestWaitMs, now() - x.since);
      if (this.deps.state() === "stopped") {
        x.drop();
        continue;
      }
      const ok = await new Promise<boolean>((resolve) => x.forward(target(x.l), resolve));
      if (!ok && hs !== undefined) hs.failed++;
    }
    this.holding = false;
    if (hs !== undefined) {
      hs.endedAt = new Date(now()).toISOString();
      hs.windowMs = now() - this.startedAt;
      if (hs.state === "holding") hs.state = "released";
      log(
        `hold: released ${hs.held} connection(s) (${n} waiting at the end), window ${hs.windowMs} ms, longest wait ${hs.longestWaitMs} ms${hs.refused ? `, ${hs.refused} refused (maxConnections)` : ""}`,
      );
    }
  }

  /** A handover that failed: the held connections go upstream, none is left waiting. */
  async releaseAfterFailure(): Promise<void> {
    if (!this.holding) return;
    clearTimeout(this.timer);
    await this.release(toUpstream);
  }

  /** Drain: the held connections cannot finish while held, so the hold ends now, as if its time were up. */
  endForDrain(): void {
    if (!this.holding || this.abort === undefined || this.abort.signal.aborted) return;
    this.deps.log("draining during the hold: it ends now (hold.onTimeout decides where the held connections go)");
    this.abort.abort();
  }

  /** Stop: every held connection is closed. */
  stop(): void {
    clearTimeout(this.timer);
    this.abort?.abort();
    for (const x of this.waiting.splice(0)) x.drop();
  }

  /** The hold's part of a status: what waits now, and the window and longest wait so far while holding. */
  snapshot(hold: HoldStatus): HoldStatus {
    const { now } = this.deps;
    const hs = { ...hold, heldNow: this.waiting.length };
    if (this.holding) {
      hs.windowMs = now() - this.startedAt;
      if (this.waiting.length > 0) hs.longestWaitMs = Math.max(hs.longestWaitMs, now() - this.waiting[0]!.since);
    }
    return hs;
  }
}

export function planHoldStatus(c: HoldConfig): HoldStatus {
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

/** Where a listener's old service listens: its own address (127.0.0.1 for a wildcard) or path. */
function oldService(l: StreamListener): UpstreamConfig {
  return l.config.kind === "unix"
    ? { kind: "unix", path: l.config.path }
    : {
        kind: "tcp",
        host:
          l.config.host === undefined || l.config.host === "::" || l.config.host === "0.0.0.0"
            ? "127.0.0.1"
            : l.config.host,
        port: l.config.port,
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
