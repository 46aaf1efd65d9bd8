/** `1 record`, `2 records`: one definition, in core (the planner words its notes with it too). */
export { count } from "@cutover/core";

/**
 * A TTL as the provider shows it: `auto` where the record's TTL is the provider's automatic one
 * (Cloudflare's `ttl: 1`, always so for a proxied record) and the value is that record's own, else seconds.
 */
export function ttlText(
  ttl: number,
  record?: { ttl: number; proxied?: boolean; meta?: Record<string, unknown> },
): string {
  return record !== undefined && ttl === record.ttl && (record.meta?.ttlAuto === true || record.proxied === true)
    ? "auto"
    : String(ttl);
}
