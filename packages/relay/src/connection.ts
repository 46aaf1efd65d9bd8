/**
 * The one connection handler: every stream connection a listener accepts, on either data path
 * (data-path.ts), goes through `ConnectionHandler.handle`: admission (the relay's state, the connection
 * limit, the hold's room), stats, the PROXY header, the hold, connecting the upstream, joining, and
 * tracking the link until it closes.
 */
import type { ResolvedLimits, TcpListenerConfig, UnixListenerConfig, UpstreamConfig } from "./config.js";
import { describeUpstream } from "./config.js";
import type { DataPath, SocketAddress } from "./data-path.js";
import type { Link } from "./forward.js";
import { encodeProxyHeader } from "./proxy-protocol.js";
import type { ByteCounters, ListenerStats, LiveConnection, RelayStatus, StatsStore } from "./stats.js";

export type RelayState = RelayStatus["state"];

/** What the handler needs of a stream listener. */
export interface ServedListener {
  readonly config: TcpListenerConfig | UnixListenerConfig;
  readonly stats: ListenerStats;
  /** For redirect: the service port whose connections arrive on the spare port (the PROXY header's port). */
  readonly servicePort: number | undefined;
}

/** A connection waiting in the hold: `forward` connects it to an upstream and joins it (done tells how it went). */
export interface Held<L> {
  l: L;
  since: number;
  forward(upstream: UpstreamConfig, done: (ok: boolean) => void): void;
  drop(): void;
}

/** What the handler needs of the hold (hold.ts). */
export interface HoldGate<L> {
  /** New connections wait in the hold instead of going upstream. */
  readonly holding: boolean;
  /** Whether one more connection may be held (a refusal is counted there). */
  room(l: L): boolean;
  add(held: Held<L>): void;
}

export interface ConnectionDeps<L extends ServedListener> {
  stats: StatsStore;
  limits: ResolvedLimits;
  log: (line: string) => void;
  now: () => number;
  state(): RelayState;
  hold: HoldGate<L>;
  /** Where a listener's connections go: its upstream, or the old service again after an aborted hold. */
  upstreamFor(l: L): UpstreamConfig;
  /** After every close (a connection, a failed one): the quiet timer, a drain waiting for the last one. */
  afterClose(): void;
}

export class ConnectionHandler<L extends ServedListener> {
  /** Every joined link, open now: for the sweeps, the drain's count and stop. */
  readonly live = new Set<Link>();
  private readonly deps: ConnectionDeps<L>;
  private refusedLogged = 0;

  constructor(deps: ConnectionDeps<L>) {
    this.deps = deps;
  }

  /** Takes a connection `l` accepted on `path`: refused, held, or connected upstream and joined. */
  handle<C extends ByteCounters, U>(path: DataPath<C, U>, l: L, client: C): void {
    const d = this.deps;
    if (!this.admit(l) || (d.hold.holding && !d.hold.room(l))) {
      path.refuse(client);
      return;
    }
    const remote = path.remoteAddress(client);
    const conn = d.stats.open(l.stats, remote?.address ?? "", client);
    // The local address may cost a system call: only asked for a PROXY header.
    const header = this.proxyHeader(l, remote, () => path.localAddress(client));
    const forward = (u: UpstreamConfig, done?: (ok: boolean) => void) =>
      path.connect(u, d.limits.connectTimeoutMs, remote, (error, up) => {
        if (up === undefined) {
          path.refuse(client);
          this.failed(l, conn, error);
          done?.(false);
          return;
        }
        if (path.isClosed(client) || d.state() === "stopped") {
          path.abandon(client, up);
          this.closed(conn);
          done?.(false);
          return;
        }
        this.track(conn, (onClose) => path.join(client, up, header, onClose));
        done?.(true);
      });
    if (d.hold.holding)
      d.hold.add({
        l,
        since: d.now(),
        forward,
        drop: () => {
          path.close(client);
          this.closed(conn);
        },
      });
    else forward(d.upstreamFor(l));
  }

  /** Whether a new connection may be taken now; a refusal is counted (and logged now and then). */
  admit(l: L): boolean {
    const d = this.deps;
    const state = d.state();
    if (state === "running" && d.stats.active < d.limits.maxConnections) return true;
    l.stats.refused++;
    if (this.refusedLogged++ % 1000 === 0)
      d.log(
        `${l.stats.name}: refused a connection: ${state !== "running" ? "draining" : `${d.limits.maxConnections} connections open (limits.maxConnections)`}`,
      );
    return false;
  }

  /** Closes every open link (stop). */
  closeAll(): void {
    for (const link of Array.from(this.live)) link.destroy(); // a copy: closing removes entries
  }

  /** The PROXY protocol header for a connection, when the listener sends one. */
  private proxyHeader(
    l: L,
    source: SocketAddress | undefined,
    dest: () => SocketAddress | undefined,
  ): Buffer | undefined {
    if (l.config.proxyProtocol === undefined) return undefined;
    const to = dest();
    return encodeProxyHeader(l.config.proxyProtocol, {
      sourceAddress: source?.address,
      sourcePort: source?.port,
      destAddress: to?.address,
      destPort: l.servicePort ?? to?.port,
    });
  }

  private closed(conn: LiveConnection): void {
    this.deps.stats.close(conn);
    this.deps.afterClose();
  }

  private failed(l: L, conn: LiveConnection, error: Error | undefined): void {
    l.stats.failed++;
    this.deps.log(
      `${l.stats.name}: ${describeUpstream(l.config.upstream)} unreachable for ${conn.client.address}: ${error?.message}`,
    );
    this.closed(conn);
  }

  /**
   * Tracks a joined link until it closes. A link can close while being joined (the fast path's join closes it
   * at once when the PROXY header cannot be written): its onClose then runs before join returns, so it must
   * not touch the link, and the link is not kept.
   */
  private track(conn: LiveConnection, join: (onClose: () => void) => Link): void {
    let link: Link | undefined;
    const joined = join(() => {
      if (link !== undefined) this.live.delete(link);
      this.closed(conn);
    });
    if (joined.closed) return;
    link = joined;
    this.live.add(joined);
  }
}
