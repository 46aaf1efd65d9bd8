/** `1 record`, `2 records`: a count with its noun in the right number (`plural` for irregular ones). */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

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
