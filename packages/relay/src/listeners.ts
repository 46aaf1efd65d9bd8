/** The relay's stream listeners (TCP and unix sockets): what each is, and binding it. */
import { createServer, type Server } from "node:net";
import {
  defaultSparePort,
  describeUpstream,
  listenerName,
  type TcpListenerConfig,
  type UnixListenerConfig,
} from "./config.js";
import type { ServedListener } from "./connection.js";
import { RelayError } from "./errors.js";
import type { StatsStore, ListenerStats } from "./stats.js";
import { listenUnix, parseMode } from "./unix-socket.js";

export interface StreamListener extends ServedListener {
  readonly config: TcpListenerConfig | UnixListenerConfig;
  readonly server: Server;
  /** In a helper: the main process's listening sockets it serves. */
  readonly adopted: Server[];
  readonly stats: ListenerStats;
  bound: boolean;
  /** For redirect: the service port whose connections arrive on the spare port. */
  readonly servicePort: number | undefined;
}

/** A listener not yet bound: its server (paused connections, half-open allowed) and its stats entry. */
export function createStreamListener(
  c: TcpListenerConfig | UnixListenerConfig,
  stats: StatsStore,
  redirect: boolean,
): StreamListener {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const redirected = c.kind === "tcp" && redirect;
  const initialListen =
    c.kind === "unix"
      ? c.path
      : `${formatHost(c.host ?? "::")}:${redirected ? (c.sparePort ?? defaultSparePort(c.port)) : c.port}${redirected ? ` (redirected from ${c.port})` : ""}`;
  return {
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
}

/** Binds a TCP listener on `port` (its host, or :: and else 0.0.0.0); a port in use is a clear error. */
export async function bindTcp(l: StreamListener, port: number, backlog: number): Promise<void> {
  const c = l.config as TcpListenerConfig;
  const hosts = c.host === undefined ? ["::", "0.0.0.0"] : [c.host];
  for (const host of hosts) {
    try {
      await new Promise<void>((resolve, reject) => {
        l.server.once("error", reject);
        l.server.listen({ host, port, backlog, ipv6Only: false }, () => {
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
}

/** Binds a unix-socket listener, trying again every 20 ms for `retryMs` while the path is in use. */
export async function bindUnix(l: StreamListener, retryMs: number, backlog: number): Promise<void> {
  const c = l.config as UnixListenerConfig;
  const until = performance.now() + retryMs;
  for (;;) {
    try {
      await listenUnix(l.server, c.path, {
        mode: parseMode(c.mode, 0o666),
        owner: c.owner,
        group: c.group,
        backlog,
      });
      l.bound = true;
      return;
    } catch (error) {
      if ((error as RelayError).code !== "E_UNIX_IN_USE" || performance.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Where a bound listener really listens (port 0 in the config becomes the port the kernel chose). */
export function listenText(l: StreamListener): string {
  const a = l.server.address();
  if (a === null || typeof a === "string") return l.stats.listen;
  const text = `${formatHost(a.address)}:${a.port}`;
  return l.servicePort === undefined ? text : `${text} (redirected from ${l.servicePort})`;
}

export function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
