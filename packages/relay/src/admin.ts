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

/** The longest request line the admin socket reads (a request is a few dozen bytes). */
export const ADMIN_MAX_REQUEST = 4096;
/** The longest drain deadline a request may ask for: a year, the longest a plan allows. */
const MAX_DEADLINE_MS = 366 * 86_400_000;

/**
 * Checks one request line: the request, or a one-line reason it is not one (answered as `{"ok":false,...}`).
 * Pure and total: any text gives one of the two, never an exception.
 */
export function parseAdminRequest(line: string): AdminRequest | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: "request is not JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { error: 'a request is a JSON object such as {"cmd":"status"}' };
  const cmd = (value as { cmd?: unknown }).cmd;
  if (cmd === "status" || cmd === "stop") return { cmd };
  if (cmd === "drain") {
    const deadlineMs = (value as { deadlineMs?: unknown }).deadlineMs;
    if (deadlineMs === undefined) return { cmd };
    if (
      typeof deadlineMs !== "number" ||
      !Number.isInteger(deadlineMs) ||
      deadlineMs < 0 ||
      deadlineMs > MAX_DEADLINE_MS
    )
      return { error: `deadlineMs is a whole number of milliseconds from 0 to ${MAX_DEADLINE_MS}` };
    return { cmd, deadlineMs };
  }
  const shown = typeof cmd === "string" ? JSON.stringify(cmd.slice(0, 40)) : typeof cmd;
  return { error: `unknown command ${shown}; expected status, drain or stop` };
}

export interface AdminServerOptions {
  /**
   * The whole request line must arrive within this long of the connection (default 5000 ms); a client that
   * sends part of one, or trickles bytes, gets an error answer and is closed instead of holding a socket.
   */
  readTimeoutMs?: number;
}

export async function startAdminServer(
  path: string,
  handle: (request: AdminRequest) => Promise<unknown>,
  options: AdminServerOptions = {},
): Promise<Server> {
  const readTimeoutMs = options.readTimeoutMs ?? 5000;
  // Half-open allowed: a client may send its request and its FIN at once and still get the answer.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let buf = "";
    let answered = false;
    let reading = true;
    const answer = (value: unknown) => {
      if (answered) return;
      answered = true;
      reading = false;
      clearTimeout(deadline);
      socket.off("data", onData);
      socket.end(`${JSON.stringify(value)}\n`);
      // A client that never reads its answer must not keep the socket either.
      setTimeout(() => socket.destroy(), 5000).unref();
    };
    // Decided after the poll phase (setImmediate): when the event loop was busy past the deadline, bytes that
    // arrived in time are read first, so a slow relay does not refuse a request that came in time.
    const deadline = setTimeout(
      () =>
        setImmediate(() => {
          if (reading) answer({ ok: false, error: `no complete request line within ${readTimeoutMs} ms` });
        }),
      readTimeoutMs,
    );
    socket.setEncoding("utf8");
    // While a request is handled (status with helper processes may take a moment), an idle limit still holds.
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => clearTimeout(deadline));
    socket.on("end", () => {
      if (!answered && buf.indexOf("\n") < 0) answer({ ok: false, error: "the request ended before its newline" });
    });
    const onData = (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl > ADMIN_MAX_REQUEST || (nl < 0 && buf.length > ADMIN_MAX_REQUEST))
        return answer({ ok: false, error: `request longer than ${ADMIN_MAX_REQUEST} bytes` });
      if (nl < 0) return;
      reading = false;
      clearTimeout(deadline);
      socket.off("data", onData);
      const request = parseAdminRequest(buf.slice(0, nl));
      if ("error" in request) return answer({ ok: false, error: request.error });
      handle(request).then(answer, (error: unknown) =>
        answer({ ok: false, error: error instanceof Error ? error.message : String(error) }),
      );
    };
    socket.on("data", onData);
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
