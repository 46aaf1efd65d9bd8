/**
 * The relay's two data paths behind one interface: the fast path on bare libuv handles (raw.ts, `rawPath`)
 * and the path on net.Socket streams (`streamPath`, below: SSH upstreams, upstreams named by a host name,
 * connections accepted before the fast path took a socket over, and every connection when Node's internals
 * are not what raw.ts expects). The connection handler (connection.ts) is written once against this
 * interface; each path keeps its own way of refusing, connecting and joining.
 */
import { isIP, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ResolvedLimits, UpstreamConfig } from "./config.js";
import { connectSocket, joinStreams, type Link } from "./forward.js";
import type { SshUpstream } from "./ssh.js";

export interface SocketAddress {
  address: string;
  port: number;
}

/**
 * A way to move a connection's bytes: `Client` is what a listener accepts, `Upstream` what `connect` opens.
 * Every method is called on the hot path of a new connection: no allocation beyond what each needs.
 */
export interface DataPath<Client, Upstream> {
  /** For the log line at start. */
  readonly name: string;
  /** Hands each connection `server` accepts (at every listen) to `onClient`; accept errors to `onError`. */
  accept(server: Server, onClient: (client: Client) => void, onError: (error: Error) => void): void;
  /** The client's address (undefined for unix sockets). */
  remoteAddress(client: Client): SocketAddress | undefined;
  /** The address the client connected to (may cost a system call: asked only for a PROXY header). */
  localAddress(client: Client): SocketAddress | undefined;
  /**
   * Opens a connection to `target`; `from` is the client's address (an SSH upstream passes it on). The
   * callback gets the upstream, or the error (refused, unreachable, timed out after `timeoutMs`).
   */
  connect(
    target: UpstreamConfig,
    timeoutMs: number,
    from: SocketAddress | undefined,
    callback: (error: Error | undefined, upstream: Upstream | undefined) => void,
  ): void;
  /** Joins a client to its connected upstream; `header` (PROXY protocol) goes to the upstream first. */
  join(
    client: Client,
    upstream: Upstream,
    header: Uint8Array | undefined,
    onClose: (e: Error | undefined) => void,
  ): Link;
  /** Refuses an accepted connection: RST for TCP (the client sees it at once), a close for unix sockets. */
  refuse(client: Client): void;
  /** Closes an accepted connection that is not joined (one held until the relay stopped). */
  close(client: Client): void;
  /** Closes both ends of a connection whose upstream connected after the relay stopped. */
  abandon(client: Client, upstream: Upstream): void;
  /** Whether the client has gone already (known on the stream path only: false on the fast path). */
  isClosed(client: Client): boolean;
}

/** Whether the fast path can reach an upstream: an IP address or a unix socket (not SSH, not a host name). */
export function rawReaches(u: UpstreamConfig): boolean {
  return u.kind === "unix" || (u.kind === "tcp" && isIP(u.host) !== 0);
}

function ignore(): void {}

/**
 * The path on net.Socket streams. Accepted sockets come paused (`pauseOnConnect`): nothing is read until
 * the upstream is connected and joined.
 */
export function createStreamPath(options: {
  limits: ResolvedLimits;
  ssh: ReadonlyMap<string, SshUpstream>;
}): DataPath<Socket, Duplex> {
  const { limits, ssh } = options;
  return {
    name: "net.Socket streams",
    accept(server, onClient) {
      server.on("connection", (client: Socket) => {
        // Until it is joined, an error (a reset from a client that gave up) must not throw.
        client.on("error", ignore);
        onClient(client);
      });
    },
    remoteAddress(client) {
      const address = client.remoteAddress;
      return address === undefined ? undefined : { address, port: client.remotePort ?? 0 };
    },
    localAddress(client) {
      const address = client.localAddress;
      return address === undefined ? undefined : { address, port: client.localPort ?? 0 };
    },
    connect(target, timeoutMs, from, callback) {
      if (target.kind === "tcp") return connectSocket({ host: target.host, port: target.port }, limits, callback);
      if (target.kind === "unix") return connectSocket({ path: target.path }, limits, callback);
      const upstream = ssh.get(target.via);
      if (upstream === undefined) return callback(new Error(`no SSH connection named ${target.via}`), undefined);
      upstream.forwardOut(target.host, target.port, from?.address ?? "127.0.0.1", from?.port ?? 0, timeoutMs).then(
        (up) => callback(undefined, up),
        (error: Error) => callback(error, undefined),
      );
    },
    join(client, upstream, header, onClose) {
      // Nagle off for TCP clients (a no-op on unix sockets): small replies go out at once.
      client.setNoDelay(true);
      if (header !== undefined) upstream.write(header);
      const link = joinStreams(client, upstream, onClose, Date.now());
      client.removeListener("error", ignore);
      client.resume();
      return link;
    },
    refuse(client) {
      client.resetAndDestroy();
    },
    close(client) {
      client.destroy();
    },
    abandon(client, upstream) {
      client.destroy();
      upstream.destroy();
    },
    isClosed(client) {
      return client.destroyed;
    },
  };
}
