import { UserError } from "../errors.js";
import { formatUtc } from "./timeline.js";

/** `--tz ZONE`, else the plan's `timezone:`, else undefined (UTC); a zone the runtime does not know is a usage error. */
export function timeZoneOption(flag: string | undefined, planZone?: string): string | undefined {
  const tz = flag ?? planZone;
  if (tz === undefined) return undefined;
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
  } catch {
    throw new UserError(
      `--tz ${tz}: not a time zone; give an IANA name such as Europe/Berlin, America/New_York or UTC`,
      {
        exitCode: 2,
      },
    );
  }
  return isUtc(tz) ? undefined : tz;
}

/** Is this zone UTC (the default, and the journal's)? */
export function isUtc(timeZone: string | undefined): boolean {
  return timeZone === undefined || /^(Etc\/)?(UTC|UCT|Zulu|GMT)$/i.test(timeZone);
}

function partsIn(d: Date, timeZone: string, locale: string): Record<string, string> {
  return Object.fromEntries(
    new Intl.DateTimeFormat(locale, {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
}

/**
 * An instant as a view prints it: `2026-12-01 14:00Z` in UTC (the default), else the wall time in the
 * zone with its abbreviation, `2026-12-01 15:00 CET`; seconds only when they are not zero, unless
 * `seconds` (columns and logs where other rows have seconds).
 */
export function formatAt(d: Date, timeZone?: string, o: { seconds?: boolean } = {}): string {
  if (timeZone === undefined || isUtc(timeZone)) return formatUtc(d, o);
  const parts = partsIn(d, timeZone, "en-US");
  // en-US names American zones (EST), en-GB European ones (CET); each gives the other as GMT+1 / GMT-5.
  if (/^GMT[+-]/.test(parts.timeZoneName ?? "")) {
    const gb = partsIn(d, timeZone, "en-GB").timeZoneName;
    if (gb && !/^GMT[+-]/.test(gb)) parts.timeZoneName = gb;
  }
  const secs = (o.seconds ?? parts.second !== "00") ? `:${parts.second}` : "";
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${secs} ${parts.timeZoneName}`;
}

/** A clock time only (`14:00:05Z` / `15:00:05 CET`), for chart axes. */
export function formatClock(d: Date, timeZone?: string): string {
  const full = formatAt(d, timeZone);
  return full.slice(11);
}
