// The one connection handler, driven through a DataPath written here: each decision (refuse, hold, connect,
// join, abandon) is seen as the call the handler makes on the path, with no socket and no timing involved.
import { expect, test } from "vitest";
import { resolveLimits, type TcpListenerConfig, type UpstreamConfig } from "../src/config.js";
import { ConnectionHandler, type Held, type HoldGate, type RelayState } from "../src/connection.js";
import type { DataPath, SocketAddress } from "../src/data-path.js";
import type { Link } from "../src/forward.js";
import { decodeProxyHeader } from "../src/proxy-protocol.js";
import { createStatsStore } from "../src/stats.js";

interface Client {
  id: number;
  bytesRead: number;
  bytesWritten: number;
  gone: boolean;
}
interface Upstream {
  to: UpstreamConfig;
}
type Connect = (error: Error | undefined, up: Upstream | undefined) => void;

/** A data path that records what the handler asks of it; connects wait until the test answers them. */
function recordingPath() {
  const calls: string[] = [];
  const pending: { target: UpstreamConfig; from: SocketAddress | undefined; answer: Connect }[] = [];
  const joined: { client: Client; header: Uint8Array | undefined; link: FakeLink }[] = [];
  let closeWhileJoining = false;
  const path: DataPath<Client, Upstream> = {
    name: "recording",
    accept: () => undefined,
    remoteAddress: (c) => ({ address: `192.0.2.${c.id}`, port: 40000 + c.id }),
    localAddress: () => ({ address: "198.51.100.10", port: 8443 }),
    connect(target, _timeoutMs, from, answer) {
      calls.push(`connect ${JSON.stringify(target)}`);
      pending.push({ target, from, answer });
    },
    join(client, _up, header, onClose) {
      calls.push(`join ${client.id}`);
      const link = new FakeLink(onClose);
      joined.push({ client, header, link });
      if (closeWhileJoining) link.destroy();
      return link;
    },
    refuse: (c) => void calls.push(`refuse ${c.id}`),
    close: (c) => void calls.push(`close ${c.id}`),
    abandon: (c) => void calls.push(`abandon ${c.id}`),
    isClosed: (c) => c.gone,
  };
  return {
    path,
    calls,
    pending,
    joined,
    closeWhileJoining: () => (closeWhileJoining = true),
  };
}

class FakeLink implements Link {
  closed = false;
  lastBytes = 0;
  lastChange = 0;
  private readonly onClose: (e: Error | undefined) => void;
  constructor(onClose: (e: Error | undefined) => void) {
    this.onClose = onClose;
  }
  bytes(): number {
    return 0;
  }
  keepAlive(): void {}
  destroy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(error);
  }
}

const upstream: UpstreamConfig = { kind: "tcp", host: "203.0.113.20", port: 443 };

function setup(options: { maxConnections?: number; proxy?: boolean; servicePort?: number } = {}) {
  let state: RelayState = "running";
  const logs: string[] = [];
  const waiting: Held<typeof listener>[] = [];
  let holding = false;
  let holdRoom = Infinity;
  const hold: HoldGate<typeof listener> = {
    get holding() {
      return holding;
    },
    room: () => waiting.length < holdRoom,
    add: (h) => void waiting.push(h),
  };
  const stats = createStatsStore({ maxClients: 100, now: () => 1000 });
  const config: TcpListenerConfig = {
    kind: "tcp",
    port: 8443,
    upstream,
    ...(options.proxy ? { proxyProtocol: "v2" as const } : {}),
  };
  const listener = {
    config,
    servicePort: options.servicePort,
    stats: stats.listener({ name: "web", kind: "tcp", listen: ":8443", upstream: "x", proxyProtocol: null }),
  };
  let closes = 0;
  const handler = new ConnectionHandler({
    stats,
    limits: { ...resolveLimits(undefined), maxConnections: options.maxConnections ?? 10 },
    log: (l) => void logs.push(l),
    now: () => 1000,
    state: () => state,
    hold,
    upstreamFor: (l) => l.config.upstream,
    afterClose: () => void closes++,
  });
  let ids = 0;
  const client = (): Client => ({ id: ++ids, bytesRead: 0, bytesWritten: 0, gone: false });
  return {
    handler,
    listener,
    stats,
    logs,
    waiting,
    client,
    closes: () => closes,
    setState: (s: RelayState) => (state = s),
    hold: (room = Infinity) => ((holding = true), (holdRoom = room)),
  };
}

test("a connection is connected to the listener's upstream, joined, tracked until it closes, counted once", () => {
  const t = setup();
  const p = recordingPath();
  t.handler.handle(p.path, t.listener, t.client());
  expect(p.calls).toEqual([`connect ${JSON.stringify(upstream)}`]);
  expect(p.pending[0]!.from).toEqual({ address: "192.0.2.1", port: 40001 }); // an SSH upstream passes it on
  expect(t.stats.active).toBe(1);
  p.pending[0]!.answer(undefined, { to: upstream });
  expect(p.calls.at(-1)).toBe("join 1");
  expect(p.joined[0]!.header).toBeUndefined(); // no PROXY protocol on this listener
  expect(t.handler.live.size).toBe(1);
  p.joined[0]!.link.destroy();
  expect(t.handler.live.size).toBe(0);
  expect(t.stats.active).toBe(0);
  expect(t.closes()).toBe(1);
  expect(t.listener.stats).toMatchObject({ total: 1, refused: 0, failed: 0 });
});

test("refused, never connected: while draining or stopped, and past limits.maxConnections", () => {
  const t = setup({ maxConnections: 2 });
  const p = recordingPath();
  for (let i = 0; i < 3; i++) t.handler.handle(p.path, t.listener, t.client());
  expect(p.calls.filter((c) => c.startsWith("connect"))).toHaveLength(2);
  expect(p.calls).toContain("refuse 3");
  expect(t.logs.join("\n")).toMatch(/refused a connection: 2 connections open \(limits.maxConnections\)/);
  t.setState("draining");
  t.handler.handle(p.path, t.listener, t.client());
  expect(p.calls.at(-1)).toBe("refuse 4");
  expect(t.listener.stats.refused).toBe(2);
  expect(t.stats.active).toBe(2); // the refused ones were never counted open
});

test("an unreachable upstream: the client is refused (RST), counted failed and closed, with the cause logged", () => {
  const t = setup();
  const p = recordingPath();
  t.handler.handle(p.path, t.listener, t.client());
  p.pending[0]!.answer(new Error("connect ECONNREFUSED 203.0.113.20:443"), undefined);
  expect(p.calls.at(-1)).toBe("refuse 1");
  expect(t.listener.stats.failed).toBe(1);
  expect(t.stats.active).toBe(0);
  expect(t.closes()).toBe(1);
  expect(t.logs.at(-1)).toBe("web: 203.0.113.20:443 unreachable for 192.0.2.1: connect ECONNREFUSED 203.0.113.20:443");
});

test("an upstream that connects after the relay stopped, or after the client left, is abandoned, not joined", () => {
  const t = setup();
  const p = recordingPath();
  const gone = t.client();
  t.handler.handle(p.path, t.listener, gone);
  t.handler.handle(p.path, t.listener, t.client());
  gone.gone = true;
  p.pending[0]!.answer(undefined, { to: upstream });
  expect(p.calls.at(-1)).toBe("abandon 1");
  t.setState("stopped");
  p.pending[1]!.answer(undefined, { to: upstream });
  expect(p.calls.at(-1)).toBe("abandon 2");
  expect(p.joined).toHaveLength(0);
  expect(t.stats.active).toBe(0);
  expect(t.handler.live.size).toBe(0);
});

test("a link that closes while it is joined (its onClose runs inside join) is counted closed once and not kept", () => {
  // The fast path's join closes the link at once when the PROXY header cannot be written (raw.test.ts). The
  // handler inside startRelay's closure read the link in that onClose before join had returned it: a
  // ReferenceError thrown from libuv's connect callback, which ended the relay's process.
  const t = setup();
  const p = recordingPath();
  p.closeWhileJoining();
  t.handler.handle(p.path, t.listener, t.client());
  p.pending[0]!.answer(undefined, { to: upstream });
  expect(p.joined).toHaveLength(1);
  expect(t.handler.live.size).toBe(0);
  expect(t.stats.active).toBe(0);
  expect(t.closes()).toBe(1);
});

test("while holding: connections wait unconnected, past the hold's room they are refused; dropped ones are closed", () => {
  const t = setup();
  const p = recordingPath();
  t.hold(2);
  for (let i = 0; i < 3; i++) t.handler.handle(p.path, t.listener, t.client());
  expect(p.calls).toEqual(["refuse 3"]); // nothing connected while held
  expect(t.waiting.map((h) => h.since)).toEqual([1000, 1000]);
  t.waiting[0]!.forward({ kind: "unix", path: "/run/old.sock" }, (ok) => expect(ok).toBe(true));
  expect(p.calls.at(-1)).toBe(`connect ${JSON.stringify({ kind: "unix", path: "/run/old.sock" })}`);
  p.pending[0]!.answer(undefined, { to: upstream });
  expect(p.calls.at(-1)).toBe("join 1");
  t.waiting[1]!.drop();
  expect(p.calls.at(-1)).toBe("close 2");
  expect(t.stats.active).toBe(1);
});

test("PROXY protocol: the header names the client and, under redirect, the service's port (not the spare port)", () => {
  const t = setup({ proxy: true, servicePort: 443 });
  const p = recordingPath();
  t.handler.handle(p.path, t.listener, t.client());
  p.pending[0]!.answer(undefined, { to: upstream });
  const header = decodeProxyHeader(Buffer.from(p.joined[0]!.header!));
  expect(header).toMatchObject({
    version: "v2",
    endpoints: { sourceAddress: "192.0.2.1", sourcePort: 40001, destAddress: "198.51.100.10", destPort: 443 },
  });
});
