import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A TCP server on a free loopback port; `onSocket` gets each connection. */
export async function startServer(
  onSocket: (s: Socket) => void,
  options: { host?: string; path?: string } = {},
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
    onSocket(s);
  });
  await new Promise<void>((resolve) =>
    options.path !== undefined
      ? server.listen(options.path, resolve)
      : server.listen(0, options.host ?? "127.0.0.1", resolve),
  );
  const port = options.path === undefined ? (server.address() as AddressInfo).port : 0;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

export function dial(target: { port: number; host?: string } | { path: string }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s =
      "path" in target
        ? connect({ path: target.path, allowHalfOpen: true })
        : connect({ port: target.port, host: target.host ?? "127.0.0.1", allowHalfOpen: true });
    s.once("connect", () => {
      s.on("error", () => undefined);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** Everything the socket sends until it ends (or errors: then the error is returned too). */
export function readAll(s: Socket): Promise<{ data: Buffer; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.once("end", () => resolve({ data: Buffer.concat(chunks) }));
    s.once("error", (error: NodeJS.ErrnoException) => resolve({ data: Buffer.concat(chunks), error }));
    s.once("close", () => resolve({ data: Buffer.concat(chunks) }));
  });
}

export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "cutover-relay-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await sleep(10);
  }
}

/** Deterministic pseudo-random bytes, so a corrupted or reordered byte is noticed. */
export function pattern(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  return b;
}
