import { isIP } from "node:net";
import { DnsError } from "../errors.js";

/** Where a query goes: a DNS server over UDP/TCP, or a DoH endpoint (RFC 8484). */
export type ServerSpec =
  | { kind: "dns"; host: string; port: number; label: string }
  | { kind: "doh"; url: string; label: string };

/** A named resolver in a group (for the report's chart: "public", "authoritative", "atlas:DE", ...). */
export interface ResolverSpec {
  server: ServerSpec;
  /** Human name: "Google", "ns1.example.com", or the address. */
  name: string;
  group: string;
}

/**
 * Parses `9.9.9.9`, `9.9.9.9:53`, `::1`, `[::1]:5353`, `https://dns.example/dns-query` into a server.
 * Throws a DnsError (code E_SERVER_SPEC) for anything else: names are not accepted, because resolving
 * them would need the resolver we are testing.
 */
export function parseServerSpec(text: string, defaultPort = 53, options: { allowPortZero?: boolean } = {}): ServerSpec {
  const t = text.trim();
  if (/^https?:\/\//i.test(t)) {
    let url: URL;
    try {
      url = new URL(t);
    } catch (cause) {
      throw new DnsError(`resolver ${t} is not a valid URL`, { code: "E_SERVER_SPEC", cause });
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
    throw new DnsError(`resolver ${t} is not an IP address, [IPv6]:port, IP:port or https:// URL`, {
      code: "E_SERVER_SPEC",
      hint: "examples: 9.9.9.9, 127.0.0.1:5353, [::1]:5353, https://dns.google/dns-query",
    });
  if (!Number.isInteger(port) || port < (options.allowPortZero ? 0 : 1) || port > 65535)
    throw new DnsError(`resolver ${t}: port ${port} is out of range`, { code: "E_SERVER_SPEC" });
  const label = port === 53 ? host : isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { kind: "dns", host, port, label };
}

/** The built-in public resolver set (IPv4, mostly anycast), from the project's toolchain notes. */
export const DEFAULT_RESOLVERS: ReadonlyArray<{ name: string; address: string }> = [
  { name: "Google", address: "8.8.8.8" },
  { name: "Google", address: "8.8.4.4" },
  { name: "Cloudflare", address: "1.1.1.1" },
  { name: "Cloudflare", address: "1.0.0.1" },
  { name: "Quad9", address: "9.9.9.9" },
  { name: "Quad9", address: "149.112.112.112" },
  { name: "OpenDNS", address: "208.67.222.222" },
  { name: "OpenDNS", address: "208.67.220.220" },
  { name: "AdGuard", address: "94.140.14.14" },
  { name: "Control D", address: "76.76.2.0" },
  { name: "UltraDNS", address: "156.154.70.1" },
  { name: "Verisign", address: "64.6.64.6" },
  { name: "Comodo", address: "8.26.56.26" },
  { name: "DNS.WATCH", address: "84.200.69.80" },
  { name: "DNS.SB", address: "185.222.222.222" },
  { name: "Yandex", address: "77.88.8.8" },
  { name: "AliDNS", address: "223.5.5.5" },
  { name: "DNSPod", address: "119.29.29.29" },
  { name: "114DNS", address: "114.114.114.114" },
  { name: "Quad101", address: "101.101.101.101" },
  { name: "Mullvad", address: "194.242.2.2" },
];

/** `default` → the public set; otherwise a list of specs (strings, or comma-separated in one string). */
export function parseResolverList(input: "default" | string | readonly string[], group = "public"): ResolverSpec[] {
  if (input === "default")
    return DEFAULT_RESOLVERS.map((r) => ({
      server: parseServerSpec(r.address),
      name: `${r.name} ${r.address}`,
      group,
    }));
  const items = (typeof input === "string" ? [input] : input)
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) throw new DnsError("the resolver list is empty", { code: "E_SERVER_SPEC" });
  return items.map((s) => {
    const server = parseServerSpec(s);
    return { server, name: server.label, group };
  });
}
