import { createSocket, type Socket } from "node:dgram";
import { randomInt } from "node:crypto";
import { isIP, connect } from "node:net";
import * as dnsPacket from "dns-packet";
import type { ServerSpec } from "@cutover/core";

/** One resource record from a response, in a plain shape: `data` is presentation text. */
export interface RecordView {
  name: string;
  type: string;
  ttl: number;
  data: string;
}

export interface QueryOptions {
  /** Recursion desired: set for resolvers, cleared for authoritative servers. Default true. */
  rd?: boolean;
  /** Per attempt, in ms. Default 2000. */
  timeoutMs?: number;
  /** Extra UDP attempts after the first times out. Default 1. */
  retries?: number;
  /** EDNS0 UDP payload size we advertise; 0 sends no OPT record. Default 1232. */
  udpPayloadSize?: number;
  /** Go straight to TCP. */
  tcp?: boolean;
  signal?: AbortSignal;
  /** For DoH: the fetch to use (tests, proxies). */
  fetch?: typeof globalThis.fetch;
}

export type QueryErrorKind = "timeout" | "network" | "malformed" | "mismatch" | "http";

/** The outcome of one query: either a response (any RCODE) or an error without one. */
export interface QueryResult {
  server: string;
  name: string;
  type: string;
  transport: "udp" | "tcp" | "doh";
  /** Milliseconds from the first send to the answer (or the give-up). */
  elapsedMs: number;
  /** Attempts made over UDP (1 + retries used); TCP and DoH count 1. */
  attempts: number;
  /** The UDP answer was truncated and the query was retried over TCP. */
  truncatedRetry: boolean;
  response?: {
    rcode: string;
    aa: boolean;
    tc: boolean;
    rd: boolean;
    ra: boolean;
    answers: RecordView[];
    authorities: RecordView[];
    additionals: RecordView[];
    /** The EDNS0 payload size the server advertised, when it sent an OPT record. */
    ednsPayload?: number;
  };
  error?: { kind: QueryErrorKind; message: string };
}

/** Presentation text of a record's data (A/AAAA/CNAME as is, MX `10 host`, SOA seven fields, TXT joined). */
export function recordData(a: dnsPacket.Answer): string {
  const d = (a as { data?: unknown }).data;
  switch (a.type) {
    case "MX": {
      const m = d as dnsPacket.MxData;
      return `${m.preference ?? 0} ${m.exchange}`;
    }
    case "SOA": {
      const s = d as dnsPacket.SoaData;
      return [s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum].join(" ");
    }
    case "TXT": {
      const parts = Array.isArray(d) ? d : [d];
      return parts.map((p) => (Buffer.isBuffer(p) ? p.toString("utf8") : String(p))).join("");
    }
    case "SRV": {
      const s = d as dnsPacket.SrvData;
      return `${s.priority ?? 0} ${s.weight ?? 0} ${s.port} ${s.target}`;
    }
    default:
      if (typeof d === "string") return d;
      if (Buffer.isBuffer(d)) return d.toString("hex");
      return JSON.stringify(d) ?? "";
  }
}

function view(list: readonly dnsPacket.Answer[] | undefined): RecordView[] {
  return (list ?? [])
    .filter((a) => a.type !== "OPT")
    .map((a) => ({
      name: a.name.toLowerCase().replace(/\.$/, ""),
      type: a.type,
      ttl: (a as { ttl?: number }).ttl ?? 0,
      data: recordData(a),
    }));
}

/** Builds the query message: one question, RD as asked, EDNS0 OPT with our payload size. */
export function encodeQuery(name: string, type: string, options: QueryOptions = {}, id = randomInt(0, 65536)): Buffer {
  const payload = options.udpPayloadSize ?? 1232;
  return dnsPacket.encode({
    type: "query",
    id,
    flags: options.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as dnsPacket.RecordType, name, class: "IN" }],
    additionals:
      payload > 0
        ? [
            {
              type: "OPT",
              name: ".",
              udpPayloadSize: payload,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ]
        : [],
  });
}

/** Decodes a response and checks it answers our question; throws a tagged Error otherwise. */
export function decodeResponse(
  buf: Buffer,
  id: number | undefined,
  name: string,
  type: string,
): QueryResult["response"] {
  let p: dnsPacket.DecodedPacket & { rcode?: string };
  try {
    p = dnsPacket.decode(buf) as typeof p;
  } catch (cause) {
    throw Object.assign(new Error(`malformed response (${(cause as Error).message})`), { kind: "malformed" });
  }
  if (!p.flag_qr) throw Object.assign(new Error("malformed response (QR bit not set)"), { kind: "malformed" });
  if (id !== undefined && p.id !== id)
    throw Object.assign(new Error("response id does not match"), { kind: "mismatch" });
  const q = p.questions?.[0];
  if (q && (q.name.toLowerCase().replace(/\.$/, "") !== name.toLowerCase().replace(/\.$/, "") || q.type !== type))
    throw Object.assign(new Error(`response is for ${q.name}/${q.type}, not ${name}/${type}`), { kind: "mismatch" });
  const opt = (p.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
  const response: NonNullable<QueryResult["response"]> = {
    rcode: p.rcode ?? "NOERROR",
    aa: p.flag_aa,
    tc: p.flag_tc,
    rd: p.flag_rd,
    ra: p.flag_ra,
    answers: view(p.answers),
    authorities: view(p.authorities),
    additionals: view(p.additionals),
  };
  if (opt) response.ednsPayload = opt.udpPayloadSize;
  return response;
}

function errorOf(e: unknown): { kind: QueryErrorKind; message: string } {
  const kind = (e as { kind?: QueryErrorKind }).kind ?? "network";
  return { kind, message: (e as Error).message ?? String(e) };
}

function udpOnce(
  server: { host: string; port: number },
  msg: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer[]> {
  // Resolves with every datagram received until one decodes with our id (checked by the caller), so
  // a spoofed or stray datagram does not end the wait: the caller asks again via `next`.
  return new Promise((resolve, reject) => {
    const sock: Socket = createSocket(isIP(server.host) === 6 ? "udp6" : "udp4");
    let done = false;
    const got: Buffer[] = [];
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      sock.close();
      if (err) reject(err);
      else resolve(got);
    };
    const onAbort = () => finish(Object.assign(new Error("aborted"), { kind: "timeout" }));
    const timer = setTimeout(
      () => finish(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { kind: "timeout" })),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    sock.on("error", (e) => finish(Object.assign(e, { kind: "network" })));
    sock.on("message", (m, rinfo) => {
      if (rinfo.port !== server.port) return;
      got.push(m);
      // The id is in the first two bytes; accept the first datagram that carries ours.
      if (m.length >= 2 && m.readUInt16BE(0) === msg.readUInt16BE(0)) finish();
    });
    sock.send(msg, server.port, server.host, (e) => {
      if (e) finish(Object.assign(e, { kind: "network" }));
    });
  });
}

function tcpOnce(
  server: { host: string; port: number },
  msg: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err?: Error, out?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(out!);
    };
    const onAbort = () => finish(Object.assign(new Error("aborted"), { kind: "timeout" }));
    const timer = setTimeout(
      () => finish(Object.assign(new Error(`no TCP answer within ${timeoutMs} ms`), { kind: "timeout" })),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    sock.on("error", (e) => finish(Object.assign(e, { kind: "network" })));
    sock.on("connect", () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([len, msg]));
    });
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length >= 2 + n) finish(undefined, buf.subarray(2, 2 + n));
      }
    });
    sock.on("end", () =>
      finish(Object.assign(new Error("TCP connection closed before a full answer"), { kind: "network" })),
    );
  });
}

/**
 * Sends one query and returns what came back, never throwing for a network problem: a timeout,
 * a refused connection or a malformed answer becomes `error`. UDP first (retried on timeout), TCP when the
 * answer is truncated; DoH (POST, RFC 8484 wire format, id 0) when the server is a URL.
 */
export async function queryDns(
  server: ServerSpec,
  name: string,
  type: string,
  options: QueryOptions = {},
): Promise<QueryResult> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? 2000;
  const base = { server: server.label, name, type };
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  if (server.kind === "doh") {
    const msg = encodeQuery(name, type, options, 0);
    const f = options.fetch ?? globalThis.fetch;
    try {
      const signals = [AbortSignal.timeout(timeoutMs)];
      if (options.signal) signals.push(options.signal);
      const res = await f(server.url, {
        method: "POST",
        headers: { "content-type": "application/dns-message", accept: "application/dns-message" },
        body: msg,
        signal: AbortSignal.any(signals),
      });
      if (!res.ok) throw Object.assign(new Error(`DoH server answered HTTP ${res.status}`), { kind: "http" });
      const body = Buffer.from(await res.arrayBuffer());
      const response = decodeResponse(body, 0, name, type);
      return { ...base, transport: "doh", elapsedMs: elapsed(), attempts: 1, truncatedRetry: false, response };
    } catch (e) {
      const err =
        (e as Error).name === "TimeoutError"
          ? { kind: "timeout" as const, message: `no DoH answer within ${timeoutMs} ms` }
          : errorOf(e);
      return { ...base, transport: "doh", elapsedMs: elapsed(), attempts: 1, truncatedRetry: false, error: err };
    }
  }
  const retries = options.retries ?? 1;
  const viaTcp = async (truncatedRetry: boolean, attempts: number): Promise<QueryResult> => {
    const id = randomInt(0, 65536);
    try {
      const buf = await tcpOnce(server, encodeQuery(name, type, options, id), timeoutMs, options.signal);
      const response = decodeResponse(buf, id, name, type);
      return { ...base, transport: "tcp", elapsedMs: elapsed(), attempts, truncatedRetry, response };
    } catch (e) {
      return { ...base, transport: "tcp", elapsedMs: elapsed(), attempts, truncatedRetry, error: errorOf(e) };
    }
  };
  if (options.tcp) return viaTcp(false, 1);
  let last: { kind: QueryErrorKind; message: string } = { kind: "timeout", message: "no answer" };
  for (let attempt = 1; attempt <= 1 + retries; attempt++) {
    const id = randomInt(0, 65536);
    const msg = encodeQuery(name, type, options, id);
    try {
      const datagrams = await udpOnce(server, msg, timeoutMs, options.signal);
      const mine = datagrams.at(-1)!;
      const response = decodeResponse(mine, id, name, type);
      if (response?.tc) return viaTcp(true, attempt);
      return { ...base, transport: "udp", elapsedMs: elapsed(), attempts: attempt, truncatedRetry: false, response };
    } catch (e) {
      last = errorOf(e);
      // Only a timeout is worth another UDP try; a malformed or refused answer will not improve.
      if (last.kind !== "timeout" || options.signal?.aborted) {
        return {
          ...base,
          transport: "udp",
          elapsedMs: elapsed(),
          attempts: attempt,
          truncatedRetry: false,
          error: last,
        };
      }
    }
  }
  return { ...base, transport: "udp", elapsedMs: elapsed(), attempts: 1 + retries, truncatedRetry: false, error: last };
}
