import { isIPv4, isIPv6 } from "node:net";
import { RelayError } from "./errors.js";

/**
 * PROXY protocol headers as HAProxy's doc/proxy-protocol.txt defines them (version 1: a text line,
 * version 2: the binary block). The relay writes one to the upstream before any client byte.
 */
export type ProxyVersion = "v1" | "v2";

/** The two ends of the client's connection as the relay saw them; absent for unix-socket clients. */
export interface ProxyEndpoints {
  sourceAddress?: string | undefined;
  sourcePort?: number | undefined;
  destAddress?: string | undefined;
  destPort?: number | undefined;
  /** "tcp" (default) or "udp" (v2 only: DGRAM). */
  transport?: "tcp" | "udp";
}

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

interface Family {
  kind: 4 | 6;
  src: string;
  dst: string;
}

/**
 * Both addresses in one family. A v4-mapped v6 address (what a dual-stack listener reports for an IPv4
 * client) counts as IPv4; if the families still differ, IPv4 is written as v4-mapped IPv6 (as HAProxy does).
 */
function family(e: ProxyEndpoints): Family | undefined {
  if (e.sourceAddress === undefined || e.destAddress === undefined) return undefined;
  if (e.sourcePort === undefined || e.destPort === undefined) return undefined;
  const src = unmap(e.sourceAddress);
  const dst = unmap(e.destAddress);
  if (isIPv4(src) && isIPv4(dst)) return { kind: 4, src, dst };
  if (!(isIPv4(src) || isIPv6(src)) || !(isIPv4(dst) || isIPv6(dst))) return undefined;
  return { kind: 6, src: isIPv4(src) ? `::ffff:${src}` : src, dst: isIPv4(dst) ? `::ffff:${dst}` : dst };
}

function unmap(address: string): string {
  const m = MAPPED_V4.exec(address);
  return m ? m[1]! : address;
}

/** `PROXY TCP4 192.0.2.50 198.51.100.10 51234 80\r\n`, or `PROXY UNKNOWN\r\n` when the addresses are not IP. */
export function encodeProxyV1(e: ProxyEndpoints): Buffer {
  const f = family(e);
  if (f === undefined || e.transport === "udp") return Buffer.from("PROXY UNKNOWN\r\n", "latin1");
  const src = f.kind === 6 ? compressV6(f.src) : f.src;
  const dst = f.kind === 6 ? compressV6(f.dst) : f.dst;
  return Buffer.from(`PROXY TCP${f.kind} ${src} ${dst} ${e.sourcePort} ${e.destPort}\r\n`, "latin1");
}

/** The binary v2 header: PROXY command with TCP/UDP over IPv4/IPv6, else LOCAL with AF_UNSPEC. */
export function encodeProxyV2(e: ProxyEndpoints): Buffer {
  const f = family(e);
  if (f === undefined) {
    const out = Buffer.alloc(16);
    PROXY_V2_SIGNATURE.copy(out, 0);
    out[12] = 0x20; // version 2, LOCAL
    out[13] = 0x00; // AF_UNSPEC, UNSPEC
    out.writeUInt16BE(0, 14);
    return out;
  }
  const addrLen = f.kind === 4 ? 12 : 36;
  const out = Buffer.alloc(16 + addrLen);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21; // version 2, PROXY
  out[13] = (f.kind === 4 ? 0x10 : 0x20) | (e.transport === "udp" ? 0x02 : 0x01);
  out.writeUInt16BE(addrLen, 14);
  let o = 16;
  o += writeAddress(out, o, f.src, f.kind);
  o += writeAddress(out, o, f.dst, f.kind);
  out.writeUInt16BE(e.sourcePort!, o);
  out.writeUInt16BE(e.destPort!, o + 2);
  return out;
}

export function encodeProxyHeader(version: ProxyVersion, e: ProxyEndpoints): Buffer {
  return version === "v1" ? encodeProxyV1(e) : encodeProxyV2(e);
}

function writeAddress(buf: Buffer, offset: number, address: string, kind: 4 | 6): number {
  if (kind === 4) {
    const parts = address.split(".");
    for (let i = 0; i < 4; i++) buf[offset + i] = Number(parts[i]);
    return 4;
  }
  const groups = expandV6(address);
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(groups[i]!, offset + i * 2);
  return 16;
}

/** The eight 16-bit groups of an IPv6 address (accepts `::` and a dotted IPv4 tail). */
export function expandV6(address: string): number[] {
  let text = address.toLowerCase();
  const pct = text.indexOf("%");
  if (pct >= 0) text = text.slice(0, pct);
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = rest === undefined || rest === "" ? [] : rest.split(":");
  const fill = rest === undefined ? [] : Array<string>(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => Number.parseInt(g, 16));
}

/** RFC 5952 text form (what inet_ntop prints): longest run of 2+ zero groups as `::`, v4-mapped tail dotted. */
export function compressV6(address: string): string {
  const g = expandV6(address);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** The longest v1 line the spec allows, CRLF included (doc/proxy-protocol.txt 2.1). */
export const PROXY_V1_MAX = 107;
const V1_PREFIX = Buffer.from("PROXY ", "latin1");
/** Address block sizes of v2's families (INET, INET6, UNIX); a shorter block is malformed. */
const V2_ADDRESS_LEN: Record<number, number> = { 0: 0, 1: 12, 2: 36, 3: 216 };
const PORT_RE = /^(0|[1-9]\d{0,4})$/;

export type DecodedProxyHeader = {
  version: ProxyVersion;
  length: number;
  command: "PROXY" | "LOCAL";
  endpoints: ProxyEndpoints;
};

function malformed(why: string): RelayError {
  return new RelayError(`not a valid PROXY protocol header: ${why}`, { code: "E_PROXY_HEADER" });
}

/**
 * Reads a v1 or v2 header at the start of `buf` (for tests and receivers). Returns undefined while the bytes
 * seen so far may still become a header (never beyond the longest header the spec allows), the header once
 * complete, and throws a RelayError (code E_PROXY_HEADER) for bytes that cannot be one. Nothing else is thrown,
 * whatever the input (fuzzed in test/proxy-protocol-fuzz.test.ts).
 */
export function decodeProxyHeader(buf: Buffer): DecodedProxyHeader | undefined {
  const sig = Math.min(buf.length, PROXY_V2_SIGNATURE.length);
  if (sig > 0 && buf[0] === PROXY_V2_SIGNATURE[0]) {
    if (!buf.subarray(0, sig).equals(PROXY_V2_SIGNATURE.subarray(0, sig))) throw malformed("bad v2 signature");
    if (buf.length < 16) return undefined;
    return decodeV2(buf);
  }
  const pre = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, pre).equals(V1_PREFIX.subarray(0, pre)))
    throw malformed('neither "PROXY " nor the v2 signature');
  const end = buf.subarray(0, PROXY_V1_MAX).indexOf("\r\n");
  if (end < 0) {
    if (buf.length >= PROXY_V1_MAX) throw malformed(`no CRLF within ${PROXY_V1_MAX} bytes`);
    return undefined;
  }
  const line = buf.subarray(0, end).toString("latin1");
  const parts = line.split(" ");
  if (parts[1] === "UNKNOWN") return { version: "v1", length: end + 2, command: "PROXY", endpoints: {} };
  if (parts.length !== 6) throw malformed("a v1 line has 6 fields");
  const [, proto, src = "", dst = "", sport = "", dport = ""] = parts;
  const family = proto === "TCP4" ? isIPv4 : proto === "TCP6" ? isIPv6 : undefined;
  if (family === undefined) throw malformed("the v1 protocol is TCP4, TCP6 or UNKNOWN");
  if (!family(src) || !family(dst)) throw malformed(`addresses do not match ${proto}`);
  if (!PORT_RE.test(sport) || !PORT_RE.test(dport) || Number(sport) > 65535 || Number(dport) > 65535)
    throw malformed("a port is a number from 0 to 65535");
  return {
    version: "v1",
    length: end + 2,
    command: "PROXY",
    endpoints: { sourceAddress: src, destAddress: dst, sourcePort: Number(sport), destPort: Number(dport) },
  };
}

function decodeV2(buf: Buffer): DecodedProxyHeader | undefined {
  if (buf[12]! >> 4 !== 2) throw malformed("v2 header with a version other than 2");
  const cmd = buf[12]! & 0x0f;
  if (cmd > 1) throw malformed("v2 command is LOCAL or PROXY");
  const fam = buf[13]! >> 4;
  const proto = buf[13]! & 0x0f;
  const need = V2_ADDRESS_LEN[fam];
  if (need === undefined || proto > 2) throw malformed("unknown v2 address family or transport");
  const len = buf.readUInt16BE(14);
  if (len < need) throw malformed(`v2 address block of ${len} bytes, ${need} needed`);
  if (buf.length < 16 + len) return undefined;
  const command = cmd === 1 ? "PROXY" : "LOCAL";
  const transport = proto === 2 ? "udp" : "tcp";
  const length = 16 + len;
  if (fam === 1) {
    const ip = (o: number) => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
    return {
      version: "v2",
      length,
      command,
      endpoints: {
        sourceAddress: ip(16),
        destAddress: ip(20),
        sourcePort: buf.readUInt16BE(24),
        destPort: buf.readUInt16BE(26),
        transport,
      },
    };
  }
  if (fam === 2) {
    const ip = (o: number) =>
      compressV6(Array.from({ length: 8 }, (_, i) => buf.readUInt16BE(o + i * 2).toString(16)).join(":"));
    return {
      version: "v2",
      length,
      command,
      endpoints: {
        sourceAddress: ip(16),
        destAddress: ip(32),
        sourcePort: buf.readUInt16BE(48),
        destPort: buf.readUInt16BE(50),
        transport,
      },
    };
  }
  return { version: "v2", length, command, endpoints: {} };
}
