import { spawn, type ChildProcess } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import { queryDns } from "@cutover/dns";
import { parseServerSpec } from "@cutover/core";

/** A tiny web service that says which host it is. */
export async function startWebService(host: string, port: number, name: string): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    res.setHeader("content-type", "text/plain");
    res.setHeader("x-served-by", name);
    res.end(`hello from the ${name} host\n`);
  });
  server.keepAliveTimeout = 500;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/**
 * The same web service as a process of its own, as a real service is: the relay stops it at the handover
 * with the plan's stop command (`kill -TERM {service}` standing for `systemctl stop {service}`).
 */
export async function startWebProcess(host: string, port: number, name: string): Promise<ChildProcess> {
  const code = `
const http = require("node:http");
const s = http.createServer((q, r) => { q.resume(); r.setHeader("x-served-by", ${JSON.stringify(name)}); r.end("hello from the ${name} host\\n"); });
s.keepAliveTimeout = 500;
s.listen(${port}, ${JSON.stringify(host)}, () => process.stdout.write("up\\n"));
process.on("SIGTERM", () => { s.close(() => process.exit(0)); s.closeIdleConnections(); });
process.stdin.on("end", () => process.exit(0)).resume();`;
  // Its stdin is a pipe from the demo: if the demo dies, the pipe closes and the service goes with it
  // (no orphan left holding the port or the demo's output).
  const child = spawn(process.execPath, ["-e", code], { stdio: ["pipe", "pipe", "ignore"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (c) => reject(new Error(`the demo's ${name} web service exited (${c})`)));
  });
  return child;
}

export interface ClientTally {
  ok: number;
  failed: number;
  byHost: Record<string, number>;
  /** Requests that reached the old address after the swap and were answered by the new host through the relay. */
  relayed: number;
  lastError?: string;
}

/**
 * Simulated visitors: each resolves the name through the DNS server, caches the answer for its TTL as a
 * resolver would, and fetches the page. One "stale" visitor keeps its first answer far past the TTL, as
 * broken caches do, until `staleUntil`. Requests are bounded: one per visitor every `intervalMs`.
 */
export function startClients(options: {
  dns: string;
  name: string;
  port: number;
  oldAddress: string;
  visitors: number;
  staleUntil: () => number;
  intervalMs?: number;
}): { tally: ClientTally; stop: () => Promise<void> } {
  const tally: ClientTally = { ok: 0, failed: 0, byHost: {}, relayed: 0 };
  const server = parseServerSpec(options.dns);
  const cache = new Map<number, { address: string; until: number }>();
  let stopped = false;
  const loops: Promise<void>[] = [];
  const resolve = async (visitor: number, stale: boolean): Promise<string | undefined> => {
    const hit = cache.get(visitor);
    if (hit && (Date.now() < hit.until || (stale && Date.now() < options.staleUntil()))) return hit.address;
    const r = await queryDns(server, options.name, "A", { timeoutMs: 1000, retries: 1 });
    const a = r.response?.answers.find((x) => x.type === "A");
    if (!a) return undefined;
    cache.set(visitor, { address: String(a.data), until: Date.now() + a.ttl * 1000 });
    return String(a.data);
  };
  const fetchOnce = (address: string) =>
    new Promise<string>((res, rej) => {
      const req = request({ host: address, port: options.port, path: "/", agent: false, timeout: 3000 }, (resp) => {
        resp.resume();
        resp.on("end", () => res(String(resp.headers["x-served-by"] ?? "?")));
        resp.on("error", rej);
        // Settles even when the body is cut short with neither an end nor an error.
        resp.on("close", () => rej(new Error("connection closed before the end of the page")));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", rej);
      req.end();
    });
  for (let v = 0; v < options.visitors; v++) {
    const stale = v === 0;
    loops.push(
      (async () => {
        while (!stopped) {
          try {
            const address = await resolve(v, stale);
            if (address) {
              const host = await fetchOnce(address);
              tally.ok++;
              tally.byHost[host] = (tally.byHost[host] ?? 0) + 1;
              if (address === options.oldAddress && host === "new") tally.relayed++;
            }
          } catch (error) {
            tally.failed++;
            tally.lastError = (error as Error).message;
          }
          await new Promise((r) => setTimeout(r, options.intervalMs ?? 400));
        }
      })(),
    );
  }
  return {
    tally,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
