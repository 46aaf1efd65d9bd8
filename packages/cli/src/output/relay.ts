import type { RelayStatus } from "@cutover/relay";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** The hold and the sync of a handover, in a few lines (nothing when the handover has neither). */
export function formatHoldLines(h: NonNullable<RelayStatus["handover"]>): string[] {
  const lines: string[] = [];
  const hold = h.hold;
  if (hold !== undefined) {
    const window = hold.windowMs === null ? "" : `; window ${hold.windowMs} ms`;
    lines.push(
      `hold: ${hold.state}; held now ${hold.heldNow}, ${hold.held} in all, longest wait ${hold.longestWaitMs} ms${window}${hold.refused ? `; ${hold.refused} refused (more than ${hold.maxConnections} held)` : ""}; at most ${hold.maxMs} ms, then ${hold.onTimeout}${hold.outcome ? `; ended: ${hold.outcome}${hold.releasedTo ? `, released to ${hold.releasedTo === "upstream" ? "the new host" : "the old services"}` : ""}` : ""}`,
    );
  }
  const sync = h.sync;
  if (sync !== undefined) {
    lines.push(
      `sync: ${sync.state}${sync.durationMs === null ? "" : ` in ${sync.durationMs} ms`}; ${formatBytes(sync.bytes)}, ${sync.files} files, ${sync.rows} rows${sync.error ? `; ${sync.error}` : ""}`,
    );
    for (const st of sync.steps)
      lines.push(
        `  ${st.state.padEnd(7)} ${st.name}${st.durationMs === null ? "" : ` (${st.durationMs} ms)`}${st.detail ? `: ${st.detail}` : ""}${st.error ? `: ${st.error}` : ""}`,
      );
  }
  return lines;
}
