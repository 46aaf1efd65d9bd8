import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ResolvedLimits } from "./config.js";

/** An open client–upstream pair (either data path); `destroy()` ends both at once. */
export interface Link {
  /** Ends both sides: with an error by reset where possible, else by a normal close. */
  destroy(error?: Error): void;
  /** Bytes moved so far, both ways: the relay's idle sweep closes a link whose count stays the same. */
  bytes(): number;
  /** For the idle sweep: the count it saw last, and when that count last changed. */
  lastBytes: number;
  lastChange: number;
  /** Both sides are closed (or closing). */
  readonly closed: boolean;
  /**
   * Turns TCP keepalive on for both sockets (once; later calls do nothing). The relay does it from a
   * periodic sweep rather than at accept: it costs four setsockopt calls per socket, which short
   * connections (most of them) would pay for nothing, as probes only start after `delayMs` idle anyway.
   */
  keepAlive(delayMs: number): void;
  /** Gives back memory held for reading by a link that has been idle (the fast path's own read buffers). */
  releaseIdleBuffers?(): void;
}

/** Set on both streams of a link: the link itself, and the stream on the other side. */
const kLink = Symbol("cutover.link");
const kPeer = Symbol("cutover.peer");

interface Joined extends Duplex {
  [kLink]: Joint;
  [kPeer]: Joined;
}

/**
 * One object per connection: the event handlers below are shared by every connection and find their
 * connection through the stream they are called on, so joining two streams allocates no closure.
 */
class Joint implements Link {
  client: Socket;
  upstream: Duplex;
  /** Sockets closed so far (0, 1 or 2). */
  closedSides = 0;
  done = false;
  firstError: Error | undefined = undefined;
  keptAlive = false;
  onClose: (error: Error | undefined) => void;
  lastBytes = 0;
  lastChange: number;

  constructor(client: Socket, upstream: Duplex, onClose: (error: Error | undefined) => void, now: number) {
    this.client = client;
    this.upstream = upstream;
    this.onClose = onClose;
    this.lastChange = now;
  }

  get closed(): boolean {
    return this.done;
  }

  bytes(): number {
    return this.client.bytesRead + this.client.bytesWritten;
  }

  keepAlive(delayMs: number): void {
    if (this.keptAlive) return;
    this.keptAlive = true;
    // Unix sockets and SSH channels have no TCP keepalive (an SSH connection has its own).
    const client = this.client;
    if (!client.destroyed && typeof client.remotePort === "number") client.setKeepAlive(true, delayMs);
    const upstream = this.upstream as Socket;
    if (!upstream.destroyed && typeof upstream.setKeepAlive === "function" && typeof upstream.remotePort === "number")
      upstream.setKeepAlive(true, delayMs);
  }

  destroy(error?: Error): void {
    if (error && this.firstError === undefined) this.firstError = error;
    endSocket(this.client, error !== undefined);
    endSocket(this.upstream as Socket, error !== undefined);
  }
}

/**
 * Destroys a socket, by reset (RST) if asked and possible. A socket we already sent our FIN to
 * (`end()`) is only closed: libuv refuses to reset it while that shutdown is pending, and Node then
 * never closes it (the descriptor leaks, 'close' never comes). See raw.ts.
 */
function endSocket(socket: Socket, reset: boolean): void {
  if (socket.destroyed) return;
  if (reset && !socket.writableEnded && typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
  else socket.destroy();
}

function onData(this: Joined, chunk: Buffer): void {
  if (!this[kPeer].write(chunk)) this.pause();
}
function onDrain(this: Joined): void {
  this[kPeer].resume();
}
function onEnd(this: Joined): void {
  const to = this[kPeer];
  if (to.destroyed) return;
  // The other side had already sent its FIN and has nothing left to write: both directions are done,
  // and a close sends our FIN as a shutdown would (one system call less per connection).
  if (to.readableEnded && to.writableLength === 0 && !to.writableEnded) to.destroy();
  else to.end();
}
function onError(this: Joined, error: Error): void {
  this[kLink].destroy(error);
}
function onClose(this: Joined): void {
  const j = this[kLink];
  j.closedSides++;
  // One side gone before both directions ended: the other cannot finish either.
  if (j.closedSides === 1) {
    if (!(j.client.readableEnded && j.upstream.readableEnded)) j.destroy();
  } else if (!j.done) {
    j.done = true;
    j.onClose(j.firstError);
  }
}

function attach(from: Joined, to: Joined, joint: Joint): void {
  from[kLink] = joint;
  from[kPeer] = to;
  from.on("data", onData);
  from.on("drain", onDrain);
  from.on("end", onEnd);
  from.on("error", onError);
  from.on("close", onClose);
}

/**
 * Joins an accepted client socket to an upstream stream in both directions: half-close is passed on
 * (a FIN from one side ends only that direction), a slow reader pauses the fast writer, and an error or
 * reset on either side ends both. Nothing is allocated per chunk, and per connection only the joint:
 * the handlers are shared. Idle links are closed by the relay's sweep (Link.bytes).
 */
export function joinStreams(
  client: Socket,
  upstream: Duplex,
  onClose: (error: Error | undefined) => void,
  now: number,
): Link {
  const joint = new Joint(client, upstream, onClose, now);
  attach(client as unknown as Joined, upstream as Joined, joint);
  attach(upstream as Joined, client as unknown as Joined, joint);
  return joint;
}

const kPending = Symbol("cutover.pending");
type Pending = Socket & { [kPending]?: (error: Error | undefined, socket: Socket | undefined) => void };

/** Opens a TCP or unix-socket connection; calls back once connected, or with the error or timeout. */
export function connectSocket(
  target: { host: string; port: number } | { path: string },
  limits: ResolvedLimits,
  callback: (error: Error | undefined, socket: Socket | undefined) => void,
): void {
  const socket =
    "path" in target
      ? connect({ path: target.path, allowHalfOpen: true })
      : connect({
          host: target.host,
          port: target.port,
          allowHalfOpen: true,
          noDelay: true,
        });
  (socket as Pending)[kPending] = callback;
  // The socket's own timer (not a separate one); removed once connected, so data never refreshes it.
  socket.setTimeout(limits.connectTimeoutMs);
  socket.on("timeout", onConnectTimeout);
  socket.on("error", onConnectError);
  socket.on("connect", onConnected);
}

function settle(socket: Pending, error: Error | undefined): void {
  const callback = socket[kPending];
  if (callback === undefined) return;
  socket[kPending] = undefined;
  socket.setTimeout(0);
  socket.off("timeout", onConnectTimeout);
  socket.off("error", onConnectError);
  socket.off("connect", onConnected);
  if (error === undefined) callback(undefined, socket);
  else callback(error, undefined);
}
function onConnectTimeout(this: Pending): void {
  this.destroy();
  const ms = (this as unknown as { timeout?: number }).timeout;
  settle(this, new Error(`connect timed out after ${ms ?? "?"} ms`));
}
function onConnectError(this: Pending, error: Error): void {
  settle(this, error);
}
function onConnected(this: Pending): void {
  settle(this, undefined);
}
