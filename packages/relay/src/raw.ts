/**
 * The relay's fast data path: bytes go from one libuv stream handle straight to the other, with no
 * net.Socket, no stream machinery and, as a rule, no allocation per chunk (see SHARED). It is what makes
 * the relay HAProxy-class (bench/relay): per new connection it saves the two Socket objects and their
 * stream state, per chunk the readable/writable bookkeeping and a write request object.
 *
 * It uses Node's own handle classes (`process.binding("tcp_wrap")`, `"pipe_wrap"`, `"stream_wrap"`),
 * the layer net.Socket itself is built on, unchanged since Node 12. They are internal, so they are
 * checked at load: if anything is missing or different (a future Node), or CUTOVER_RELAY_DATA_PATH is
 * `streams`, `rawPath` is undefined and the relay uses net.Socket streams (forward.ts), with the same
 * behaviour. SSH upstreams and upstreams named by host name always use the stream path.
 *
 * Semantics are those of joinStreams: half-close passed on in both directions, a slow reader stops
 * reading from the fast writer (past HIGH_WATER bytes waiting per direction: memory per connection stays
 * bounded), an error or reset on either side resets both.
 */
import { isIPv6 } from "node:net";
import { getSystemErrorName } from "node:util";
import type { UpstreamConfig } from "./config.js";
import type { DataPath, SocketAddress } from "./data-path.js";
import type { Link } from "./forward.js";

/** A libuv stream handle (TCPWrap or PipeWrap), as Node's internals expose it. */
export interface RawHandle {
  /** Node checks that it is a function. With a user buffer, what it returns is the buffer for the next read. */
  onread: (this: RawHandle, buffer: ArrayBuffer | undefined) => Uint8Array | undefined;
  useUserBuffer(buffer: Uint8Array): void;
  onconnection?: (err: number, client: RawHandle | undefined) => void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: object, data: Uint8Array): number;
  writeLatin1String(req: object, data: string): number;
  shutdown(req: object): number;
  close(callback?: () => void): void;
  reset?(callback?: () => void): number;
  setNoDelay?(on: boolean): number;
  setKeepAlive?(on: boolean, delaySeconds: number): number;
  getpeername?(out: Record<string, unknown>): number;
  getsockname?(out: Record<string, unknown>): number;
  connect(req: object, addressOrPath: string, port?: number): number;
  connect6?(req: object, address: string, port: number): number;
  readonly writeQueueSize: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  [kSide]?: Side;
}

interface Internals {
  TCP: new (type: number) => RawHandle;
  TCPConnectWrap: new () => ConnectReq;
  tcpSocket: number;
  Pipe: new (type: number) => RawHandle;
  PipeConnectWrap: new () => ConnectReq;
  pipeSocket: number;
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

interface ConnectReq {
  oncomplete: (status: number, handle: RawHandle) => void;
  [kConnect]?: PendingConnect;
}
interface WriteReq {
  oncomplete: (status: number) => void;
  buffer?: Uint8Array | undefined;
  [kSide]?: Side | undefined;
}
interface ShutdownReq {
  oncomplete: (status: number) => void;
  [kSide]?: Side;
}

const kSide = Symbol("cutover.side");
const kConnect = Symbol("cutover.connect");
const UV_EOF = -4095;

function loadInternals(): Internals | undefined {
  if (process.env.CUTOVER_RELAY_DATA_PATH === "streams") return undefined;
  try {
    const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
    if (typeof binding !== "function") return undefined;
    const tcp = binding("tcp_wrap");
    const pipe = binding("pipe_wrap");
    const stream = binding("stream_wrap");
    const tcpConstants = tcp.constants as Record<string, number> | undefined;
    const pipeConstants = pipe.constants as Record<string, number> | undefined;
    const internals = {
      TCP: tcp.TCP,
      TCPConnectWrap: tcp.TCPConnectWrap,
      tcpSocket: tcpConstants?.SOCKET,
      Pipe: pipe.Pipe,
      PipeConnectWrap: pipe.PipeConnectWrap,
      pipeSocket: pipeConstants?.SOCKET,
      WriteWrap: stream.WriteWrap,
      ShutdownWrap: stream.ShutdownWrap,
      state: stream.streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
    };
    for (const k of ["TCP", "TCPConnectWrap", "Pipe", "PipeConnectWrap", "WriteWrap", "ShutdownWrap"] as const)
      if (typeof internals[k] !== "function") return undefined;
    for (const k of ["tcpSocket", "pipeSocket", "kReadBytesOrError", "kLastWriteWasAsync"] as const)
      if (typeof internals[k] !== "number") return undefined;
    if (!(internals.state instanceof Int32Array)) return undefined;
    const proto = (internals.TCP as { prototype: Record<string, unknown> }).prototype;
    for (const m of [
      "readStart",
      "readStop",
      "writeBuffer",
      "writeLatin1String",
      "useUserBuffer",
      "shutdown",
      "close",
      "connect",
      "getpeername",
    ])
      if (!(m in proto)) return undefined;
    return internals as Internals;
  } catch {
    return undefined;
  }
}

const I = loadInternals();

/** One direction's source: a handle, the handle it writes to, and where the pair stands. */
interface Side {
  handle: RawHandle;
  peer: Side;
  link: RawLink;
  /** The handle sent its FIN (EOF read). */
  eof: boolean;
  /** Our FIN to this handle went out (shutdown done). */
  shut: boolean;
  /** A shutdown was asked of this handle (libuv refuses a reset after that). */
  shutting: boolean;
  /** Reading stopped because the peer has `HIGH_WATER` bytes or more waiting to be written. */
  stopped: boolean;
  /** Where the handle reads into: `SHARED`, or a buffer of its own for bulk (see SHARED). */
  buf: Uint8Array;
  /** The handle's byte count at the last releaseIdleBuffers(). */
  readAtRelease: number;
}

/**
 * Bytes allowed to wait for a slow peer before the relay stops reading from the other side, and the level
 * at which it reads again. A few read buffers keep a bulk transfer streaming (stopping at the first
 * pending write halves the throughput of one stream) while memory per connection stays bounded.
 */
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;

/**
 * Reads go into buffers the relay owns (`useUserBuffer`), not into the 64 KiB that Node would allocate
 * (and shrink to size) for every read. Most reads are small (requests, replies, handshakes): they go
 * into one buffer shared by every handle of the process and are written as a latin1 string, which Node
 * writes at once from a copy on its stack and copies to the heap only what the kernel did not take, so
 * the shared buffer is free again when onRead returns. A large read (bulk) is written straight from a
 * buffer of the handle's own; if that write has to wait, the buffer goes with it and the handle reads
 * into a new one (onRead returns the buffer for the next read). A small read after that brings the
 * handle back to the shared buffer, and so does the relay's periodic releaseIdleBuffers() for a handle
 * that read nothing since the last one: an idle connection holds no buffer of its own.
 *
 * Measured (bench/relay, 5 rounds against the version that let Node allocate per read): one bulk stream
 * 11.5–12.9 Gb/s in every round (1.12x HAProxy) where the other gave 6.4–10.4; four streams 0.94x
 * against 0.81x; keep-alive 0.92x against 0.83x.
 */
const READ_SIZE = 64 * 1024;
/** Node's stack storage for a string write that is tried at once (StreamBase::WriteString). */
const STRING_WRITE_MAX = 16 * 1024;
const SHARED: Uint8Array = Buffer.allocUnsafeSlow(READ_SIZE);

// One write request serves every write that completes at once (almost all of them): only a write that
// goes asynchronous keeps it, and a new one is made for the next.
let spareWrite: WriteReq | undefined;

function onWriteDone(this: WriteReq, status: number): void {
  const source = this[kSide]!;
  this[kSide] = undefined;
  this.buffer = undefined;
  const link = source.link;
  if (link.closed) return;
  if (status < 0) return link.destroy(uvError(status, "write"));
  if (source.stopped && !source.eof && source.peer.handle.writeQueueSize <= LOW_WATER) {
    source.stopped = false;
    source.handle.readStart();
  }
}

function onRead(this: RawHandle): Uint8Array | undefined {
  const internals = I!;
  const nread = internals.state[internals.kReadBytesOrError]!;
  const side = this[kSide];
  if (side === undefined) {
    // An upstream that reads before it was joined: rawPath.connect's callback broke its contract (join or
    // close before returning). Closing it makes the loss visible to the peer instead of dropping bytes.
    this.close();
    return undefined;
  }
  const link = side.link;
  if (link.closed) return undefined;
  if (nread > 0) return forward(side, nread, internals);
  if (nread === UV_EOF) onEof(side, internals);
  else if (nread < 0) link.destroy(uvError(nread, "read"));
  return undefined;
}

/** Writes what `side` just read to its peer; returns the buffer for the next read if it changes. */
function forward(side: Side, nread: number, internals: Internals): Uint8Array | undefined {
  const out = side.peer.handle;
  const buf = side.buf;
  const req = (spareWrite ??= newWriteReq(internals));
  let data: Uint8Array | undefined;
  let next: Uint8Array | undefined;
  let err: number;
  if (nread <= STRING_WRITE_MAX) {
    err = out.writeLatin1String(req, (buf as Buffer).toString("latin1", 0, nread));
    if (buf !== SHARED) next = SHARED;
  } else if (buf === SHARED || (out.writeQueueSize > 0 && nread < READ_SIZE / 2)) {
    // The shared buffer is never handed to a write that may wait; nor is a half-empty one to a write that
    // certainly waits (memory pinned would be far more than the bytes waiting).
    data = Buffer.from(buf.subarray(0, nread));
    err = out.writeBuffer(req, data);
    if (buf === SHARED) next = Buffer.allocUnsafeSlow(READ_SIZE); // more bulk is likely: read it in place
  } else {
    data = buf.subarray(0, nread);
    err = out.writeBuffer(req, data);
  }
  if (err !== 0) {
    side.link.destroy(uvError(err, "write"));
    return undefined;
  }
  if (internals.state[internals.kLastWriteWasAsync] !== 0) {
    // The peer is slow: keep the data alive until it is written; past the high-water mark, read no more
    // from this side until the peer has taken most of it.
    req.buffer = data;
    req[kSide] = side;
    spareWrite = undefined;
    if (data?.buffer === buf.buffer) next = Buffer.allocUnsafeSlow(READ_SIZE);
    if (out.writeQueueSize >= HIGH_WATER) {
      side.stopped = true;
      side.handle.readStop();
    }
  }
  if (next !== undefined) side.buf = next;
  return next;
}

function onEof(side: Side, internals: Internals): void {
  const link = side.link;
  side.eof = true;
  const peer = side.peer;
  if (peer.eof && peer.handle.writeQueueSize === 0 && side.handle.writeQueueSize === 0) {
    // Both sides have sent their FIN, everything read has been handed to the kernel, and neither side has
    // unread data: closing both sends each its FIN (a shutdown still pending is simply overtaken), two
    // shutdown calls fewer per connection than passing the second FIN on and waiting for it.
    link.destroy();
    return;
  }
  // Pass the FIN on once what was read before it is written (libuv orders the shutdown after the writes).
  const req = new internals.ShutdownWrap();
  req.oncomplete = onShutdown;
  req[kSide] = peer;
  peer.shutting = true;
  const err = peer.handle.shutdown(req);
  if (err !== 0) link.destroy(uvError(err, "shutdown"));
}

function onShutdown(this: ShutdownReq, status: number): void {
  const side = this[kSide]!;
  const link = side.link;
  if (link.closed) return;
  if (status < 0) return link.destroy(uvError(status, "shutdown"));
  side.shut = true;
  if (side.peer.shut) link.destroy();
}

function newWriteReq(internals: Internals): WriteReq {
  const req = new internals.WriteWrap();
  req.oncomplete = onWriteDone;
  return req;
}

function uvError(code: number, syscall: string): NodeJS.ErrnoException {
  let name: string;
  try {
    name = getSystemErrorName(code);
  } catch {
    name = `E${-code}`;
  }
  const error: NodeJS.ErrnoException = new Error(`${syscall} ${name}`);
  error.code = name;
  error.errno = code;
  error.syscall = syscall;
  return error;
}

/** An open client–upstream pair on the fast path. */
export class RawLink implements Link {
  readonly client: Side;
  readonly upstream: Side;
  closed = false;
  private keptAlive = false;
  private readonly onClose: (error: Error | undefined) => void;
  /** For the idle sweep: the byte count last seen, and when it last changed. */
  lastBytes = 0;
  lastChange: number;

  constructor(client: RawHandle, upstream: RawHandle, onClose: (error: Error | undefined) => void, now: number) {
    this.onClose = onClose;
    this.lastChange = now;
    const side = (handle: RawHandle): Side => ({
      handle,
      peer: undefined as unknown as Side, // set just below
      link: this,
      eof: false,
      shut: false,
      shutting: false,
      stopped: false,
      buf: SHARED,
      readAtRelease: 0,
    });
    const c = side(client);
    const u = side(upstream);
    c.peer = u;
    u.peer = c;
    this.client = c;
    this.upstream = u;
    client[kSide] = c;
    upstream[kSide] = u;
    client.onread = onRead;
    client.useUserBuffer(SHARED);
    // An upstream from rawPath.connect reads already (see there); setting a user buffer again would stack.
    if (upstream.onread !== onRead) {
      upstream.onread = onRead;
      upstream.useUserBuffer(SHARED);
    }
  }

  bytes(): number {
    const h = this.client.handle;
    return h.bytesRead + h.bytesWritten;
  }

  /**
   * Gives back the read buffer of each side that has one of its own and read nothing since the last call
   * (the relay calls it every few seconds): the handle reads into the shared buffer again. Node keeps the
   * handle's previous buffer setting beneath the new one until the handle closes (a few dozen bytes).
   */
  releaseIdleBuffers(): void {
    if (this.closed) return;
    for (const side of [this.client, this.upstream]) {
      const read = side.handle.bytesRead;
      if (side.buf !== SHARED && read === side.readAtRelease) {
        side.handle.useUserBuffer(SHARED);
        side.buf = SHARED;
      }
      side.readAtRelease = read;
    }
  }

  /** How many of the two sides read into a buffer of their own (0 for an idle link after a release). */
  ownBuffers(): number {
    return (this.client.buf === SHARED ? 0 : 1) + (this.upstream.buf === SHARED ? 0 : 1);
  }

  keepAlive(delayMs: number): void {
    if (this.keptAlive || this.closed) return;
    this.keptAlive = true;
    const seconds = Math.max(1, Math.floor(delayMs / 1000));
    this.client.handle.setKeepAlive?.(true, seconds);
    this.upstream.handle.setKeepAlive?.(true, seconds);
  }

  /** Ends both sides: with an error, by reset (RST) where TCP allows; else by a normal close (FIN). */
  destroy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    // The byte counters are read by onClose (stats) while the handles are still open.
    this.onClose(error);
    const reset = error !== undefined;
    closeHandle(this.client.handle, reset && !this.client.shutting);
    closeHandle(this.upstream.handle, reset && !this.upstream.shutting);
  }
}

/**
 * Closes a handle, by reset (RST) if asked and possible. libuv refuses a reset once a shutdown was asked
 * (EINVAL), and Node then marks the handle closing without closing it: the socket would leak and the
 * process would spin at exit waiting for it. So a reset is only asked of a handle never shut down.
 */
function closeHandle(handle: RawHandle, reset: boolean): void {
  if (reset && typeof handle.reset === "function") handle.reset();
  else handle.close();
}

/**
 * The fast path as a DataPath (data-path.ts); undefined where Node's internals are not what this file expects.
 * Its `connect` reaches IP addresses and unix sockets only (see `rawReaches`), and opens a handle that reads
 * from the start, so the callback must join it (or close it) before it returns.
 */
export interface RawPath extends DataPath<RawHandle, RawHandle> {
  join(
    client: RawHandle,
    upstream: RawHandle,
    header: Uint8Array | undefined,
    onClose: (e: Error | undefined) => void,
  ): RawLink;
}

interface PendingConnect {
  callback: (error: Error | undefined, handle: RawHandle | undefined) => void;
  handle: RawHandle;
  timer: NodeJS.Timeout;
  timeoutMs: number;
  where: string;
  settled: boolean;
}

function onConnectDone(this: ConnectReq, status: number): void {
  const p = this[kConnect]!;
  if (p.settled) return; // timed out: the handle is closed already
  p.settled = true;
  clearTimeout(p.timer);
  if (status < 0) {
    p.handle.close();
    const error = uvError(status, "connect");
    error.message = `${error.message} ${p.where}`;
    p.callback(error, undefined);
  } else p.callback(undefined, p.handle);
}

function onConnectTimeout(p: PendingConnect): void {
  if (p.settled) return;
  p.settled = true;
  p.handle.close();
  p.callback(new Error(`connect timed out after ${p.timeoutMs} ms`), undefined);
}

const peerScratch = { address: "", family: "", port: 0 };

function makeRawPath(internals: Internals): RawPath {
  return {
    name: "libuv handles",
    accept(server, onHandle, onError) {
      const onConnection = (err: number, client: RawHandle | undefined) => {
        if (err !== 0 || client === undefined) {
          onError(uvError(err, "accept"));
          return;
        }
        onHandle(client);
      };
      // Every listen (the first, a rebind, a unix-socket takeover) makes a new handle: adopt each one.
      // 'listening' comes before the event loop can deliver a connection on it. A server already listening
      // (a helper process's copy of the main process's socket) is adopted at once.
      const take = () => {
        const handle = (server as unknown as { _handle?: RawHandle })._handle;
        if (handle) handle.onconnection = onConnection;
      };
      server.on("listening", take);
      if (server.listening) take();
    },
    connect(target: UpstreamConfig, timeoutMs, _from, callback) {
      if (target.kind === "ssh") {
        callback(new Error("SSH upstreams are reached through streams, not the fast path"), undefined);
        return;
      }
      const isPath = target.kind === "unix";
      const handle = isPath ? new internals.Pipe(internals.pipeSocket) : new internals.TCP(internals.tcpSocket);
      const req = isPath ? new internals.PipeConnectWrap() : new internals.TCPConnectWrap();
      const where = isPath ? target.path : `${target.host}:${target.port}`;
      const p: PendingConnect = { callback, handle, timeoutMs, where, settled: false, timer: undefined as never };
      req.oncomplete = onConnectDone;
      req[kConnect] = p;
      let err: number;
      if (isPath) err = handle.connect(req, target.path);
      else {
        handle.setNoDelay?.(true);
        err = isIPv6(target.host)
          ? handle.connect6!(req, target.host, target.port)
          : handle.connect(req, target.host, target.port);
      }
      if (err !== 0) {
        p.settled = true;
        handle.close();
        const error = uvError(err, "connect");
        error.message = `${error.message} ${where}`;
        callback(error, undefined);
        return;
      }
      p.timer = setTimeout(onConnectTimeout, timeoutMs, p);
      // Read from the start: libuv then registers the socket for writing (the connect) and reading in one
      // epoll call, where reading armed after the connect costs an epoll ADD that fails and a MOD. Nothing
      // is read before the connect completes (libuv finishes the connect first), and onConnectDone's
      // callback joins the handle (or closes it) before the loop polls again.
      handle.onread = onRead;
      handle.useUserBuffer(SHARED);
      handle.readStart();
    },
    join(client, upstream, header, onClose) {
      const link = new RawLink(client, upstream, onClose, Date.now());
      if (header !== undefined) {
        const req = newWriteReq(internals);
        const err = upstream.writeBuffer(req, header);
        if (err !== 0) {
          link.destroy(uvError(err, "write"));
          return link;
        }
        // A write that did not complete at once keeps the header alive until it does (no source to resume).
        if (internals.state[internals.kLastWriteWasAsync] !== 0) req.buffer = header;
        req[kSide] = undefined;
        req.oncomplete = (status: number) => {
          if (status < 0) link.destroy(uvError(status, "write"));
        };
      }
      client.setNoDelay?.(true);
      client.readStart();
      return link;
    },
    remoteAddress(handle) {
      // Node sets address, family and port on the object it is given: one reused object keeps its shape.
      const out = peerScratch;
      return handle.getpeername?.(out) === 0 ? { address: out.address, port: out.port } : undefined;
    },
    localAddress(handle) {
      const out: Record<string, unknown> = {};
      return handle.getsockname?.(out) === 0 ? (out as unknown as SocketAddress) : undefined;
    },
    refuse(handle) {
      closeHandle(handle, true);
    },
    // A connection dropped unjoined is reset, as a refused one: nothing of it reached an upstream.
    close(handle) {
      closeHandle(handle, true);
    },
    abandon(client, upstream) {
      closeHandle(client, true);
      upstream.close();
    },
    // A handle that is not reading learns nothing of its peer's close: whether it is gone shows at join.
    isClosed() {
      return false;
    },
  };
}

export const rawPath: RawPath | undefined = I === undefined ? undefined : makeRawPath(I);
