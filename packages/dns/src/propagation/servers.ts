import { parseServerSpec, type ServerSpec } from "@cutover/core";
import { DnsError } from "../errors.js";

/** A named resolver in a group (for the report's chart: "public", "authoritative", "atlas:DE", ...). */
export interface ResolverSpec {
  server: ServerSpec;
  /** Human name: "Google", "ns1.example.com", or the address. */
  name: string;
  group: string;
  /** Who runs it: "Google", "Quad9 Foundation", "our office". */
  operator?: string;
  /** Where it answers from: "anycast, US", "Berlin". */
  location?: string;
  /** ISO country of the operator (the built-in set), for grouping by place. */
  country?: string;
}

/** A user's label for one of their resolvers: `--label 10.0.0.53=Office@Berlin`, or the plan's list. */
export interface ResolverLabel {
  operator?: string;
  location?: string;
}

/**
 * The built-in public resolver set (IPv4, mostly anycast), from the project's toolchain notes, with who
 * runs each and from where: an anycast address answers from the site nearest the asker, so "where" is the
 * operator's country, not the answering site's.
 */
export const DEFAULT_RESOLVERS: ReadonlyArray<{
  name: string;
  address: string;
  operator: string;
  location: string;
  country: string;
}> = [
  { name: "Google", address: "8.8.8.8", operator: "Google LLC", location: "anycast, US", country: "US" },
  { name: "Google", address: "8.8.4.4", operator: "Google LLC", location: "anycast, US", country: "US" },
  { name: "Cloudflare", address: "1.1.1.1", operator: "Cloudflare, Inc.", location: "anycast, US", country: "US" },
  { name: "Cloudflare", address: "1.0.0.1", operator: "Cloudflare, Inc.", location: "anycast, US", country: "US" },
  { name: "Quad9", address: "9.9.9.9", operator: "Quad9 Foundation", location: "anycast, CH", country: "CH" },
  { name: "Quad9", address: "149.112.112.112", operator: "Quad9 Foundation", location: "anycast, CH", country: "CH" },
  { name: "OpenDNS", address: "208.67.222.222", operator: "Cisco OpenDNS", location: "anycast, US", country: "US" },
  { name: "OpenDNS", address: "208.67.220.220", operator: "Cisco OpenDNS", location: "anycast, US", country: "US" },
  { name: "AdGuard", address: "94.140.14.14", operator: "AdGuard", location: "anycast, CY", country: "CY" },
  { name: "Control D", address: "76.76.2.0", operator: "Control D", location: "anycast, CA", country: "CA" },
  { name: "UltraDNS", address: "156.154.70.1", operator: "Vercara UltraDNS", location: "anycast, US", country: "US" },
  { name: "Verisign", address: "64.6.64.6", operator: "Verisign", location: "anycast, US", country: "US" },
  { name: "Comodo", address: "8.26.56.26", operator: "Comodo Secure DNS", location: "anycast, US", country: "US" },
  { name: "DNS.WATCH", address: "84.200.69.80", operator: "DNS.WATCH", location: "Germany", country: "DE" },
  { name: "DNS.SB", address: "185.222.222.222", operator: "DNS.SB (xTom)", location: "anycast, DE", country: "DE" },
  { name: "Yandex", address: "77.88.8.8", operator: "Yandex", location: "Russia", country: "RU" },
  { name: "AliDNS", address: "223.5.5.5", operator: "Alibaba Cloud", location: "anycast, CN", country: "CN" },
  { name: "DNSPod", address: "119.29.29.29", operator: "Tencent DNSPod", location: "China", country: "CN" },
  { name: "114DNS", address: "114.114.114.114", operator: "114DNS", location: "China", country: "CN" },
  { name: "Quad101", address: "101.101.101.101", operator: "TWNIC", location: "anycast, TW", country: "TW" },
  { name: "Mullvad", address: "194.242.2.2", operator: "Mullvad VPN", location: "anycast, SE", country: "SE" },
];

/**
 * Parses a label `OPERATOR@LOCATION`, `OPERATOR` or `@LOCATION` (the text after `SERVER=` in `--label`).
 */
export function parseResolverLabel(text: string): ResolverLabel {
  const at = text.lastIndexOf("@");
  const operator = (at >= 0 ? text.slice(0, at) : text).trim();
  const location = (at >= 0 ? text.slice(at + 1) : "").trim();
  if (!operator && !location)
    throw new DnsError(`label ${JSON.stringify(text)} is empty; write OPERATOR@LOCATION`, { code: "E_SERVER_SPEC" });
  return { ...(operator ? { operator } : {}), ...(location ? { location } : {}) };
}

/** Who runs a resolver and where, in one short phrase for tables: "Google LLC, anycast, US". */
export function resolverWhere(r: { operator?: string; location?: string }): string {
  return [r.operator, r.location].filter(Boolean).join(", ");
}

/** One item of a resolver list: a server spec, or a spec with its operator and location. */
export type ResolverListItem = string | ({ server: string } & ResolverLabel);

/**
 * `default` → the public set (labelled); otherwise a list of specs (strings, comma-separated in one
 * string, or objects with a label). `labels` (server spec → label) names the user's own resolvers; a
 * label given for a built-in address replaces the built-in one.
 */
export function parseResolverList(
  input: "default" | string | readonly ResolverListItem[],
  group = "public",
  labels: Readonly<Record<string, ResolverLabel>> = {},
): ResolverSpec[] {
  const byLabel = new Map(Object.entries(labels).map(([k, v]) => [parseServerSpec(k).label, v]));
  const apply = (spec: ResolverSpec): ResolverSpec => {
    const l = byLabel.get(spec.server.label);
    if (!l) return spec;
    const { country: _country, ...rest } = spec;
    return { ...rest, ...l };
  };
  if (input === "default")
    return DEFAULT_RESOLVERS.map((r) =>
      apply({
        server: parseServerSpec(r.address),
        name: `${r.name} ${r.address}`,
        group,
        operator: r.operator,
        location: r.location,
        country: r.country,
      }),
    );
  const items = (typeof input === "string" ? [input] : input).flatMap((s) =>
    typeof s === "string"
      ? s
          .split(",")
          .map((x) => x.trim())
          .filter((x) => x !== "")
          .map((x): Exclude<ResolverListItem, string> => ({ server: x }))
      : [s],
  );
  if (items.length === 0) throw new DnsError("the resolver list is empty", { code: "E_SERVER_SPEC" });
  return items.map((item) => {
    const server = parseServerSpec(item.server);
    const builtIn =
      server.kind === "dns" && server.port === 53
        ? DEFAULT_RESOLVERS.find((d) => d.address === server.host)
        : undefined;
    const spec: ResolverSpec = builtIn
      ? {
          server,
          name: `${builtIn.name} ${builtIn.address}`,
          group,
          operator: builtIn.operator,
          location: builtIn.location,
          country: builtIn.country,
        }
      : { server, name: server.label, group };
    const own = {
      ...(item.operator ? { operator: item.operator } : {}),
      ...(item.location ? { location: item.location } : {}),
    };
    return apply(Object.keys(own).length ? { server, name: spec.name, group, ...own } : spec);
  });
}
