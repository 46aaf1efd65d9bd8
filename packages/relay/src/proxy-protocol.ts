import { isIPv4, isIPv6 } from "node:net";

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

/** Reads a v1 or v2 header at the start of `buf` (for tests and receivers); undefined if incomplete. */
export function decodeProxyHeader(
  buf: Buffer,
): { version: ProxyVersion; length: number; command: "PROXY" | "LOCAL"; endpoints: ProxyEndpoints } | undefined {
  if (buf.length >= 16 && buf.subarray(0, 12).equals(PROXY_V2_SIGNATURE)) {
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return undefined;
    const command = (buf[12]! & 0x0f) === 1 ? "PROXY" : "LOCAL";
    const fam = buf[13]! >> 4;
    const transport = (buf[13]! & 0x0f) === 2 ? "udp" : "tcp";
    if (fam === 1) {
      const ip = (o: number) => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
      return {
        version: "v2",
        length: 16 + len,
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
        length: 16 + len,
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
    return { version: "v2", length: 16 + len, command, endpoints: {} };
  }
  const end = buf.indexOf("\r\n");
  if (end < 0 || !buf.subarray(0, 6).equals(Buffer.from("PROXY "))) return undefined;
  const parts = buf.subarray(0, end).toString("latin1").split(" ");
  if (parts[1] === "UNKNOWN") return { version: "v1", length: end + 2, command: "PROXY", endpoints: {} };
  return {
    version: "v1",
    length: end + 2,
    command: "PROXY",
    endpoints: {
      sourceAddress: parts[2],
      destAddress: parts[3],
      sourcePort: Number(parts[4]),
      destPort: Number(parts[5]),
    },
  };
}
