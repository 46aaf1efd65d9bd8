import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { UdpListenerConfig } from "./config.js";
import type { ListenerStats, LiveConnection, StatsStore } from "./stats.js";

/**
 * A UDP listener: each client address and port gets its own flow (a socket connected to the upstream),
 * so answers go back to the right client. A flow with no datagram either way for `idleTimeoutMs` is closed.
 */
export interface UdpListener {
  bind(): Promise<void>;
  address(): { address: string; port: number };
  close(): void;
  readonly flows: number;
}

/** A flow's bytes are counted as datagrams pass (stats.addBytes), not read from a socket at close. */
const NO_BYTES = { bytesRead: 0, bytesWritten: 0 } as const;

interface Flow {
  socket: Socket;
  /** Datagrams that arrived before the upstream socket was connected. */
  queue: Buffer[] | undefined;
  conn: LiveConnection;
  last: number;
  timer: NodeJS.Timeout;
}

export function createUdpListener(
  config: UdpListenerConfig,
  stats: StatsStore,
  listenerStats: ListenerStats,
  isAccepting: () => boolean,
  onFlowClosed: () => void,
): UdpListener {
  const host = config.host ?? "::";
  const idle = config.idleTimeoutMs ?? 60_000;
  const server = createSocket({ type: isIPv6(host) ? "udp6" : "udp4", ipv6Only: false });
  const flows = new Map<string, Flow>();

  const closeFlow = (key: string, flow: Flow) => {
    if (flows.get(key) !== flow) return;
    flows.delete(key);
    clearTimeout(flow.timer);
    flow.socket.close();
    stats.close(flow.conn);
    onFlowClosed();
  };
  const watch = (key: string, flow: Flow) => {
    const check = () => {
      const left = flow.last + idle - Date.now();
      if (left > 0) flow.timer = setTimeout(check, left);
      else closeFlow(key, flow);
    };
    flow.timer = setTimeout(check, idle);
  };

  server.on("message", (msg: Buffer, rinfo: RemoteInfo) => {
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = flows.get(key);
    if (flow === undefined) {
      if (!isAccepting()) return;
      const up = createSocket(isIPv6(config.upstream.host) ? "udp6" : "udp4");
      const conn = stats.open(listenerStats, rinfo.address, NO_BYTES);
      const f: Flow = { socket: up, queue: [], conn, last: Date.now(), timer: undefined as unknown as NodeJS.Timeout };
      flow = f;
      flows.set(key, f);
      watch(key, f);
      up.on("message", (answer: Buffer) => {
        f.last = Date.now();
        stats.addBytes(conn, 0, answer.length);
        server.send(answer, rinfo.port, rinfo.address);
      });
      up.on("error", () => closeFlow(key, f));
      up.connect(config.upstream.port, config.upstream.host, () => {
        const queued = f.queue ?? [];
        f.queue = undefined;
        for (const m of queued) up.send(m);
      });
    }
    flow.last = Date.now();
    stats.addBytes(flow.conn, msg.length, 0);
    if (flow.queue !== undefined) {
      if (flow.queue.length < 64) flow.queue.push(msg);
    } else flow.socket.send(msg);
  });

  return {
    bind: () =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.bind({ address: host, port: config.port }, () => {
          server.off("error", reject);
          server.on("error", () => undefined);
          resolve();
        });
      }),
    address: () => server.address(),
    close() {
      for (const [key, f] of flows) closeFlow(key, f);
      try {
        server.close();
      } catch {
        // already closed
      }
    },
    get flows() {
      return flows.size;
    },
  };
}
