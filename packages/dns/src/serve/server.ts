import { createSocket, type Socket } from "node:dgram";
import { createServer, isIP, type Server } from "node:net";
import { stat } from "node:fs/promises";
import { DnsError } from "../errors.js";
import { answerMessage } from "./answer.js";
import { loadZone, type ServedZone } from "./zone.js";
import { parseServerSpec } from "@cutover/core";

/** Answers a TCP client may leave unread before it is closed. */
const MAX_UNREAD = 1024 * 1024;

export interface AuthoritativeServerOptions {
  /** Zone files; the origin comes from `$ORIGIN`, an absolute SOA owner, or the file name unless given. */
  zoneFiles: ReadonlyArray<string | { file: string; origin?: string }>;
  /** `127.0.0.1:5353`, `[::1]:5353`; port 0 picks a free port (the same one for UDP and TCP). */
  listen: string;
  /** Reload a zone when its file changes (polled). Default true. */
  watch?: boolean;
  /** Poll interval for file changes, ms. Default 250. */
  pollMs?: number;
  /**
   * A TCP client must send each complete message within this long of connecting or of its previous
   * message, else it is closed (RFC 7766 leaves the figure to the server). Default 10000 ms.
   */
  tcpTimeoutMs?: number;
  /** Log lines (loads, reloads, errors of a reload; queries when `logQueries`). */
  onLog?: (line: string) => void;
  logQueries?: boolean;
}

export interface AuthoritativeServer {
  host: string;
  port: number;
  /** `127.0.0.1:5353` form, usable as a resolver spec. */
  address: string;
  zones(): readonly ServedZone[];
  /** Reads every zone file again; a file that fails to parse keeps its previous data and throws. */
  reload(): Promise<void>;
  /** Queries answered so far (UDP + TCP). */
  queries(): number;
  close(): Promise<void>;
}

/**
 * Starts a small authoritative DNS server (UDP and TCP) for zone files: AA set; SOA, NS, A, AAAA, CNAME,
 * MX, TXT (and SRV, PTR, CAA); NXDOMAIN and NODATA with the SOA in the authority section; reloads when a
 * file changes. For the offline demo and tests; not a production server.
 */
export async function startAuthoritativeServer(options: AuthoritativeServerOptions): Promise<AuthoritativeServer> {
  const spec = parseServerSpec(options.listen, 53, { allowPortZero: true });
  if (spec.kind !== "dns") throw new DnsError(`--listen ${options.listen}: give IP:PORT`, { code: "E_LISTEN" });
  const sources = options.zoneFiles.map((z) => (typeof z === "string" ? { file: z } : z));
  if (sources.length === 0) throw new DnsError("no zone file given", { code: "E_NO_ZONE" });
  const log = options.onLog ?? (() => {});
  const tcpTimeoutMs = options.tcpTimeoutMs ?? 10_000;
  let zones: ServedZone[] = [];
  // What each file looked like when it was last loaded (stat taken before reading it): a change is any
  // difference from that, so a write made just after the load is seen at the next poll.
  const loadedStat = new Map<string, string>();
  const statKey = async (file: string) => {
    const st = await stat(file);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  };
  for (const s of sources) {
    loadedStat.set(s.file, await statKey(s.file));
    const z = await loadZone(s.file, s.origin);
    for (const skipped of z.skipped) log(`${s.file}: not served (type not supported): ${skipped}`);
    zones.push(z);
  }
  let count = 0;

  const handle = (msg: Buffer, udpLimit: number | undefined): Buffer | undefined => {
    const { answer, question } = answerMessage(zones, msg, udpLimit);
    if (answer !== undefined) count++;
    if (options.logQueries && question) log(`query ${question.name} ${question.type}`);
    return answer;
  };

  const family = isIP(spec.host) === 6 ? "udp6" : "udp4";
  let udp: Socket | undefined;
  const open = new Set<import("node:net").Socket>();
  let tcp: Server | undefined;
  const bindBoth = async (port: number) => {
    const u = createSocket({ type: family });
    await new Promise<void>((resolve, reject) => {
      u.once("error", reject);
      u.bind(port, spec.host, () => {
        u.off("error", reject);
        resolve();
      });
    });
    const actual = u.address().port;
    const t = createServer((sock) => {
      open.add(sock);
      let buf = Buffer.alloc(0);
      // A deadline per message, not an idle timer: a client must complete a message (length and body)
      // within tcpTimeoutMs of connecting or of its previous message. An idle timer is reset by every byte,
      // so a client sending one byte now and then (or nothing, on a busy server) could hold a socket for ever.
      let messages = 0;
      // Decided after the poll phase (setImmediate), so a message that came in time while the loop was busy
      // is read before the connection is judged.
      const expire = (seen: number) => () => setImmediate(() => messages === seen && sock.destroy());
      let deadline = setTimeout(expire(0), tcpTimeoutMs);
      sock.on("close", () => {
        clearTimeout(deadline);
        open.delete(sock);
      });
      sock.on("error", () => sock.destroy());
      sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2) {
          const n = buf.readUInt16BE(0);
          if (buf.length < 2 + n) break;
          const out = handle(buf.subarray(2, 2 + n), undefined);
          buf = buf.subarray(2 + n);
          messages++;
          clearTimeout(deadline);
          deadline = setTimeout(expire(messages), tcpTimeoutMs);
          if (out) {
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            sock.write(Buffer.concat([len, out]));
          }
          // A client that sends queries and never reads the answers is cut off, not buffered for.
          if (sock.writableLength > MAX_UNREAD) return void sock.destroy();
        }
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        t.once("error", reject);
        t.listen(actual, spec.host, () => {
          t.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      u.close();
      throw e;
    }
    u.on("message", (m, rinfo) => {
      const out = handle(m, 1232);
      if (out) u.send(out, rinfo.port, rinfo.address);
    });
    u.on("error", (e) => log(`udp: ${e.message}`));
    udp = u;
    tcp = t;
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await bindBoth(spec.port);
      break;
    } catch (e) {
      // Port 0: the UDP port may be taken for TCP; try another free port a few times.
      if (spec.port !== 0 || attempt >= 5)
        throw new DnsError(`cannot listen on ${options.listen}: ${(e as Error).message}`, {
          code: "E_LISTEN",
          cause: e,
        });
    }
  }
  const port = udp!.address().port;

  const reload = async () => {
    const next: ServedZone[] = [];
    for (const s of sources) {
      loadedStat.set(s.file, await statKey(s.file));
      next.push(await loadZone(s.file, s.origin));
    }
    zones = next;
  };
  // Polled rather than fs.watchFile: its first stat is taken asynchronously after it starts, so a write
  // made before that stat was never reported (seen as a reload missed under load).
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      for (const s of sources) {
        let key: string;
        try {
          key = await statKey(s.file);
        } catch {
          continue; // being replaced; the next poll sees the new file
        }
        if (key === loadedStat.get(s.file)) continue;
        loadedStat.set(s.file, key);
        try {
          const z = await loadZone(s.file, s.origin);
          zones = zones.map((old) => (old.file === s.file ? z : old));
          log(`${s.file}: reloaded ${z.origin} serial ${z.serial}`);
        } catch (e) {
          log(`${s.file}: reload failed, keeping the previous data: ${(e as Error).message}`);
        }
      }
    } finally {
      polling = false;
    }
  };
  const poller = options.watch === false ? undefined : setInterval(() => void poll(), options.pollMs ?? 250).unref();
  const address = family === "udp6" ? `[${spec.host}]:${port}` : `${spec.host}:${port}`;
  for (const z of zones) log(`serving ${z.origin} (serial ${z.serial}) from ${z.file} on ${address} udp+tcp`);
  return {
    host: spec.host,
    port,
    address,
    zones: () => zones,
    reload,
    queries: () => count,
    async close() {
      clearInterval(poller);
      await new Promise<void>((r) => udp!.close(() => r()));
      for (const sock of open) sock.destroy();
      await new Promise<void>((r) => tcp!.close(() => r()));
    },
  };
}
