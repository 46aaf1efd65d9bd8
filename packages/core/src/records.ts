/** One resource record as cutover sees it, whatever the provider. */
export interface DnsRecord {
  /** The provider's id for this record (Cloudflare/Linode ids; zone files and RFC 2136 derive one). */
  id: string;
  /** The zone it lives in, lowercase, no trailing dot: `example.com`. */
  zone: string;
  /** Fully qualified owner name, lowercase, no trailing dot; the apex is the zone name. */
  name: string;
  /** Record type in upper case: A, AAAA, CNAME, MX, TXT, ... */
  type: string;
  /**
   * The record's data in presentation form without the owner/TTL/class:
   * A `198.51.100.10`, MX `10 mail.example.com`, TXT the text itself (quotes removed, strings joined).
   */
  content: string;
  /** The effective TTL in seconds (a provider's "automatic" or "zone default" already resolved). */
  ttl: number;
  /** Cloudflare: the record is proxied (orange cloud); its TTL cannot be set and its origin swap is instant. */
  proxied?: boolean;
  /** Provider-specific facts to keep (comments, tags, raw TTL such as Cloudflare's 1 = auto). */
  meta?: Record<string, unknown>;
}

export interface Zone {
  id: string;
  name: string;
}

/** Lowercase, no trailing dot. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

/** `www` + `example.com` → `www.example.com`; `@` or "" → the apex; an FQDN ending in a dot is kept. */
export function absoluteName(name: string, zone: string): string {
  const z = normalizeName(zone);
  if (name === "@" || name === "") return z;
  if (name.endsWith(".")) return normalizeName(name);
  const n = normalizeName(name);
  return n === z || n.endsWith(`.${z}`) ? n : `${n}.${z}`;
}

/** A stable key for a record's identity within a provider: zone, name, type and id. */
export function recordKey(r: Pick<DnsRecord, "zone" | "name" | "type" | "id">): string {
  return `${r.zone}|${r.name}|${r.type}|${r.id}`;
}
