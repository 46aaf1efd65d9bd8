/**
 * The clients of the scenario, run inside a client namespace: `node --import tsx _load.ts MODE CONFIG-JSON`.
 * Prints one JSON result when its deadline has passed. Every loop is bounded by the deadline.
 *
 * - web: fresh-connection HTTP requests, keep-alive requests and large downloads; every new connection
 *   resolves the name through the resolver (Unbound), as real clients do.
 * - stale: like a client behind a broken cache: fresh connections to the old address, never resolving.
 * - mysql: sessions through a unix socket on the old host (the `mariadb` client, one session per
 *   request as a PHP page does), each inserting a row and reading back.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { Agent, request, type IncomingMessage } from "node:http";
import type { LookupFunction } from "node:net";
import { queryDns } from "@cutover/dns";
import { parseServerSpec } from "@cutover/core";

export interface LoadConfig {
  name: string;
  resolver?: string;
  address?: string;
  deadline: number;
  /** Instead of `deadline`: run this long from the moment the client has started (tsx takes seconds to load). */
  durationMs?: number;
  fresh?: number;
  keepAlive?: number;
  downloads?: number;
  bigSha256?: string;
  bigSize?: number;
  socket?: string;
  sessions?: number;
  client?: string;
  pauseMs?: number;
}

export interface Failure {
  kind: string;
  at: number;
  error: string;
}

export interface Download {
  start: number;
  end: number;
  bytes: number;
  intact: boolean;
  via: string;
  error?: string;
}

export interface Write {
  id: string;
  started: number;
  ok: boolean;
}

export interface LoadResult {
  mode: string;
  ok: Record<string, number>;
  byServer: Record<string, number>;
  failures: Failure[];
  retried: number;
  /** The slowest fresh-connection request (ms) and when it started: a held SYN shows here (1 s, then 3 s). */
  slowest?: { ms: number; at: number };
  downloads: Download[];
  writes: Write[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeLookup(resolver: string): LookupFunction {
  const server = parseServerSpec(resolver);
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    queryDns(server, hostname, "A", { timeoutMs: 2000, retries: 2 }).then(
      (r) => {
        const a = r.response?.answers.find((x) => x.type === "A");
        if (!a)
          return callback(
            Object.assign(new Error(`no A record for ${hostname} (${r.error ?? "empty"})`), { code: "ENOTFOUND" }),
          );
        const address = String(a.data);
        if (options.all) callback(null, [{ address, family: 4 }]);
        else callback(null, address, 4);
      },
      (error: Error) => callback(error),
    );
  }) as unknown as LookupFunction;
}

function get(
  options: { host: string; path: string; agent: Agent | false; lookup?: LookupFunction },
  onBody?: (res: IncomingMessage) => Promise<void>,
): Promise<{ body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host,
        port: 80,
        path: options.path,
        agent: options.agent,
        lookup: options.lookup,
        timeout: 15_000,
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${res.statusCode}`));
          return;
        }
        if (onBody) {
          onBody(res).then(() => resolve({ body: "", reused: req.reusedSocket }), reject);
          return;
        }
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () =>
          res.complete ? resolve({ body, reused: req.reusedSocket }) : reject(new Error("response cut short")),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => reject(Object.assign(e, { reused: req.reusedSocket })));
    req.end();
  });
}

async function web(c: LoadConfig, r: LoadResult, stale: boolean): Promise<void> {
  const lookup = stale ? undefined : makeLookup(c.resolver!);
  const host = stale ? c.address! : c.name;
  const pause = c.pauseMs ?? 20;
  const count = (kind: string, body: string) => {
    r.ok[kind] = (r.ok[kind] ?? 0) + 1;
    const server = /served by the (\w+) host/.exec(body)?.[1] ?? "?";
    r.byServer[server] = (r.byServer[server] ?? 0) + 1;
  };
  const fail = (kind: string, error: unknown) =>
    r.failures.push({ kind, at: Date.now(), error: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
  const loops: Promise<void>[] = [];
  for (let i = 0; i < (c.fresh ?? 0); i++)
    loops.push(
      (async () => {
        while (Date.now() < c.deadline) {
          const t0 = Date.now();
          try {
            count("fresh", (await get({ host, path: "/", agent: false, ...(lookup ? { lookup } : {}) })).body);
            if (Date.now() - t0 > (r.slowest?.ms ?? -1)) r.slowest = { ms: Date.now() - t0, at: t0 };
          } catch (error) {
            fail(stale ? "stale" : "fresh", error);
          }
          await sleep(pause);
        }
      })(),
    );
  for (let i = 0; i < (c.keepAlive ?? 0); i++)
    loops.push(
      (async () => {
        let agent = new Agent({ keepAlive: true, maxSockets: 1 });
        while (Date.now() < c.deadline) {
          try {
            let res;
            try {
              res = await get({ host, path: "/", agent, ...(lookup ? { lookup } : {}) });
            } catch (error) {
              // A keep-alive connection the server closed as the request went out: browsers and curl send an
              // idempotent request again on a new connection (RFC 9112 §9.3.1). Counted as `retried`.
              if (!(error as { reused?: boolean }).reused) throw error;
              r.retried++;
              agent.destroy();
              agent = new Agent({ keepAlive: true, maxSockets: 1 });
              res = await get({ host, path: "/", agent, ...(lookup ? { lookup } : {}) });
            }
            count("keepAlive", res.body);
          } catch (error) {
            fail("keepAlive", error);
          }
          await sleep(pause);
        }
        agent.destroy();
      })(),
    );
  for (let i = 0; i < (c.downloads ?? 0); i++)
    loops.push(
      (async () => {
        while (Date.now() < c.deadline) {
          const d: Download = { start: Date.now(), end: 0, bytes: 0, intact: false, via: "?" };
          const hash = createHash("sha256");
          try {
            await get({ host, path: "/big", agent: false, ...(lookup ? { lookup } : {}) }, (res) => {
              d.via = res.socket.remoteAddress ?? "?";
              return new Promise<void>((resolve, reject) => {
                res.on("data", (b: Buffer) => {
                  d.bytes += b.length;
                  hash.update(b);
                });
                res.on("end", () => (res.complete ? resolve() : reject(new Error("download cut short"))));
                res.on("error", reject);
                res.on("aborted", () => reject(new Error("download aborted")));
              });
            });
            d.intact = d.bytes === c.bigSize && hash.digest("hex") === c.bigSha256;
            if (!d.intact) d.error = `got ${d.bytes} bytes, checksum mismatch or short`;
          } catch (error) {
            d.error = (error as Error).message;
          }
          d.end = Date.now();
          r.downloads.push(d);
          if (!d.intact) {
            fail("download", new Error(d.error));
            await sleep(100); // a refused download is not retried in a tight loop
          }
        }
      })(),
    );
  await Promise.all(loops);
}

function mariadbSession(socket: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      "mariadb",
      ["--no-defaults", "-S", socket, "-u", "app", "-papp-pw", "-N", "-B", "--connect-timeout=10", "app", "-e", sql],
      { timeout: 20_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error((stderr || error.message).trim().split("\n")[0])) : resolve(stdout),
    ),
  );
}

async function mysql(c: LoadConfig, r: LoadResult): Promise<void> {
  let n = 0;
  const loops = Array.from({ length: c.sessions ?? 1 }, (_, s) =>
    (async () => {
      while (Date.now() < c.deadline) {
        const id = `${c.client}-${s}-${n++}`;
        const started = Date.now();
        try {
          const out = await mariadbSession(
            c.socket!,
            `INSERT INTO writes VALUES ('${id}', '${c.client}', ${started}, 'load'); SELECT COUNT(*) FROM writes WHERE id = '${id}';`,
          );
          if (out.trim() !== "1") throw new Error(`read back ${JSON.stringify(out.trim())}`);
          r.ok.mysql = (r.ok.mysql ?? 0) + 1;
          r.writes.push({ id, started, ok: true });
        } catch (error) {
          r.writes.push({ id, started, ok: false });
          r.failures.push({ kind: "mysql", at: Date.now(), error: (error as Error).message });
        }
        await sleep(c.pauseMs ?? 50);
      }
    })(),
  );
  await Promise.all(loops);
}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  const c = JSON.parse(json!) as LoadConfig;
  if (c.durationMs !== undefined) c.deadline = Date.now() + c.durationMs;
  process.stderr.write("load: started\n");
  const r: LoadResult = { mode: mode!, ok: {}, byServer: {}, failures: [], retried: 0, downloads: [], writes: [] };
  if (mode === "web" || mode === "stale") await web(c, r, mode === "stale");
  else if (mode === "mysql") await mysql(c, r);
  else throw new Error(`unknown mode ${mode}`);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

if (process.argv[1]?.endsWith("_load.ts")) void main();
