const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parses `30m`, `24h`, `1d`, `1h30m`, `90s`, `500ms` into milliseconds.
 * Returns undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "0") return trimmed === "0" ? 0 : undefined;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (const match of trimmed.matchAll(re)) {
    total += Number(match[1]) * UNITS[match[2]!]!;
    end = (match.index ?? 0) + match[0].length;
  }
  return end === trimmed.length && end > 0 ? Math.round(total) : undefined;
}

const UNIT_SECONDS = [
  ["d", 86400],
  ["h", 3600],
  ["m", 60],
  ["s", 1],
] as const;

/**
 * The one duration formatter. By default the two most significant units of an elapsed time or a wait, rounded
 * to the second: `1h30m`, `45s`, `1d2h`, `500ms`. With `whole`, the largest unit that holds it exactly, for a
 * planned time or a TTL where nothing may be rounded off: `90m`, `25h`, `1d`, `3700s` (whole seconds).
 */
export function formatDuration(ms: number, options: { whole?: boolean } = {}): string {
  if (ms < 0) return `-${formatDuration(-ms, options)}`;
  if (options.whole) {
    const s = ms / 1000;
    const unit = UNIT_SECONDS.find(([, size]) => s >= size && s % size === 0);
    return unit ? `${s / unit[1]}${unit[0]}` : `${s}s`;
  }
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of UNIT_SECONDS) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  // Keep it short: two most significant units.
  return parts.slice(0, 2).join("");
}
