// Instants in UTC as people read them (no imports: the planner and the views both use these).

/**
 * `2026-11-30 13:00Z`; seconds only when they are not zero, unless `seconds` says always (a column where any
 * time has seconds shows them on every row: `02:46:00Z` under `02:46:01Z`, not `02:46Z`) or never (a clock).
 */
export function formatUtc(d: Date, o: { seconds?: boolean } = {}): string {
  const iso = d.toISOString();
  const secs = iso.slice(17, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}${(o.seconds ?? secs !== "00") ? `:${secs}` : ""}Z`;
}

/** A time as the plan file takes it (`2027-12-01T21:00:00Z`), for a value the user may paste into schedule.swapAt. */
export function formatPlanTime(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}

/** Whether a column of these times needs seconds (any of them has some). */
export function needSeconds(dates: Date[]): boolean {
  return dates.some((d) => d.getUTCSeconds() !== 0);
}
