import { isIP } from "node:net";
import { CutoverError } from "./errors.js";

/** Where a query goes: a DNS server over UDP/TCP, or a DoH endpoint (RFC 8484). */
export type ServerSpec =
  | { kind: "dns"; host: string; port: number; label: string }
  | { kind: "doh"; url: string; label: string };

/**
 * Parses `9.9.9.9`, `9.9.9.9:53`, `::1`, `[::1]:5353`, `https://dns.example/dns-query` into a server.
 * Throws a CutoverError (code E_SERVER_SPEC) for anything else: names are not accepted, because resolving
 * them would need the resolver we are testing.
 */
export function parseServerSpec(text: string, defaultPort = 53, options: { allowPortZero?: boolean } = {}): ServerSpec {
  const t = text.trim();
  if (/^https?:\/\//i.test(t)) {
    let url: URL;
    try {
      url = new URL(t);
    } catch (cause) {
      throw new CutoverError(`resolver ${t} is not a valid URL`, { code: "E_SERVER_SPEC", cause });
    }
    return { kind: "doh", url: url.toString(), label: url.toString() };
  }
  let host = t;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (isIP(t) === 0) {
    const m = /^([^:]+):(\d+)$/.exec(t);
    if (m) {
      host = m[1]!;
      port = Number(m[2]);
    }
  }
  if (isIP(host) === 0)
    throw new CutoverError(`resolver ${t} is not an IP address, [IPv6]:port, IP:port or https:// URL`, {
      code: "E_SERVER_SPEC",
      hint: "examples: 9.9.9.9, 127.0.0.1:5353, [::1]:5353, https://dns.google/dns-query",
    });
  if (!Number.isInteger(port) || port < (options.allowPortZero ? 0 : 1) || port > 65535)
    throw new CutoverError(`resolver ${t}: port ${port} is out of range`, { code: "E_SERVER_SPEC" });
  const label = port === 53 ? host : isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { kind: "dns", host, port, label };
}
