import { createServer, connect, type Server } from "node:net";
import { RelayError } from "./errors.js";
import { listenUnix } from "./unix-socket.js";

/**
 * The admin endpoint: a unix socket (mode 0600, so only its owner, normally root, may use it) that takes
 * one JSON request line and answers one JSON line:
 *   {"cmd":"status"}                      → the RelayStatus
 *   {"cmd":"drain","deadlineMs":60000}    → {"ok":true,...} then the relay drains and stops
 *   {"cmd":"stop"}                        → {"ok":true} then the relay stops at once
 */
export type AdminRequest = { cmd: "status" } | { cmd: "drain"; deadlineMs?: number } | { cmd: "stop" };

export async function startAdminServer(
  path: string,
  handle: (request: AdminRequest) => Promise<unknown>,
): Promise<Server> {
  // Half-open allowed: a client may send its request and its FIN at once and still get the answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let buf = "";
    socket.setEncoding("utf8");
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > 65_536) return void socket.destroy();
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      let request: AdminRequest;
      try {
        request = JSON.parse(buf.slice(0, nl)) as AdminRequest;
      } catch {
        return void socket.end(`${JSON.stringify({ ok: false, error: "request is not JSON" })}\n`);
      }
      handle(request).then(
        (answer) => socket.end(`${JSON.stringify(answer)}\n`),
        (error: unknown) => socket.end(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`),
      );
    });
  });
  await listenUnix(server, path, { mode: 0o600, backlog: 64 });
  return server;
}

/** Sends one request to a relay's admin socket and returns its JSON answer. */
export function queryAdmin(path: string, request: AdminRequest, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let buf = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RelayError(`the relay at ${path} did not answer within ${timeoutMs} ms`, { code: "E_ADMIN_TIMEOUT" }));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("data", (chunk: string) => (buf += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        error.code === "ENOENT" || error.code === "ECONNREFUSED"
          ? `no relay is running with its admin socket at ${path}`
          : error.code === "EACCES"
            ? `permission denied on ${path} (the admin socket is mode 0600: run as the relay's user, usually root)`
            : `cannot reach the relay at ${path}: ${error.message}`;
      reject(
        new RelayError(why, {
          code: "E_ADMIN_UNREACHABLE",
          hint: "start one with: cutover relay start --plan cutover.yaml",
        }),
      );
    });
    socket.on("end", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf));
      } catch {
        reject(
          new RelayError(`the relay at ${path} answered something that is not JSON`, { code: "E_ADMIN_PROTOCOL" }),
        );
      }
    });
  });
}
