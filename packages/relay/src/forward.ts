import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ResolvedLimits } from "./config.js";

/**
 * Joins an accepted client socket to an upstream stream in both directions: half-close is passed on
 * (a FIN from one side ends only that direction), a slow reader pauses the fast writer, an error or
 * reset on either side ends both, and an idle connection is closed. Nothing is allocated per chunk.
 */
export function joinStreams(
  client: Socket,
  upstream: Duplex,
  options: { idleTimeoutMs: number; onClose: (error: Error | undefined) => void },
): () => void {
  let done = false;
  let firstError: Error | undefined;
  let closed = 0;
  const finish = () => {
    if (done) return;
    done = true;
    options.onClose(firstError);
  };
  const destroyBoth = (error?: Error) => {
    if (error && firstError === undefined) firstError = error;
    if (!client.destroyed) {
      if (error && typeof client.resetAndDestroy === "function") client.resetAndDestroy();
      else client.destroy();
    }
    if (!upstream.destroyed) {
      const u = upstream as Socket;
      if (error && typeof u.resetAndDestroy === "function") u.resetAndDestroy();
      else upstream.destroy();
    }
  };
  pump(client, upstream);
  pump(upstream, client);
  client.on("error", destroyBoth);
  upstream.on("error", destroyBoth);
  const onClose = () => {
    closed++;
    // One side gone before both directions ended: the other cannot finish either.
    if (closed === 1) {
      if (!(client.readableEnded && upstream.readableEnded)) destroyBoth();
    } else finish();
  };
  client.on("close", onClose);
  upstream.on("close", onClose);
  if (options.idleTimeoutMs > 0) {
    // A socket's timer is reset by reads and writes, so the client side sees traffic both ways.
    client.setTimeout(options.idleTimeoutMs);
    client.on("timeout", () => destroyBoth(new Error(`idle for ${options.idleTimeoutMs} ms`)));
  }
  return () => destroyBoth();
}

function pump(from: Duplex, to: Duplex): void {
  from.on("data", (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on("drain", () => from.resume());
  from.on("end", () => {
    if (!to.destroyed) to.end();
  });
}

/** Opens a TCP or unix-socket connection; resolves when connected, rejects on error or timeout. */
export function connectSocket(
  target: { host: string; port: number } | { path: string },
  limits: ResolvedLimits,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      "path" in target
        ? connect({ path: target.path, allowHalfOpen: true })
        : connect({
            host: target.host,
            port: target.port,
            allowHalfOpen: true,
            noDelay: true,
            keepAlive: limits.keepAliveMs > 0,
            keepAliveInitialDelay: limits.keepAliveMs,
          });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${limits.connectTimeoutMs} ms`));
    }, limits.connectTimeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      resolve(socket);
    });
  });
}
