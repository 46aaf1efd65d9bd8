import type { RelayStatus } from "@cutover/relay";
import { formatBytes, formatHoldLines } from "../../output/relay.js";

export { formatBytes };

/** Columns padded to the widest cell. */
export function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}

/** The human view of a relay's status: listeners, then the clients still arriving, most recent first. */
export function formatStatus(s: RelayStatus, limit: number): string[] {
  const lines: string[] = [];
  lines.push(`relay pid ${s.pid}, ${s.state} (started ${s.startedAt}); ${s.active} open, ${s.total} in total`);
  if (s.workers !== undefined)
    lines.push(`processes: ${s.workers.map((w) => `pid ${w.pid} ${w.active} open, ${w.total} in total`).join("; ")}`);
  if (s.restarts !== undefined && s.restarts.count > 0) {
    const l = s.restarts.last;
    lines.push(
      `restarted ${s.restarts.count}× by its supervisor${l ? `; last at ${l.at} (pid ${l.pid} ended by ${l.reason}, started again after ${l.restartMs} ms)` : ""}`,
    );
  }
  if (s.drainDeadline !== null) lines.push(`draining: open connections are closed at ${s.drainDeadline}`);
  const h = s.handover;
  if (h !== null) {
    const parts = [`handover ${h.mode}: ${h.state}`];
    if (h.at !== null && h.state === "waiting") parts.push(`at ${h.at}`);
    if (h.gapMs !== null) parts.push(`gap ≤ ${h.gapMs} ms`);
    if (h.firewall !== null) parts.push(`rules in ${h.firewall}`);
    if (h.stopped.length > 0) parts.push(`stopped ${h.stopped.join(", ")}`);
    if (h.error !== null) parts.push(`problem: ${h.error}`);
    lines.push(parts.join("; "));
    lines.push(...formatHoldLines(h));
  }
  lines.push("");
  lines.push(
    ...table([
      ["LISTENER", "UPSTREAM", "PROXY", "ACTIVE", "TOTAL", "REFUSED", "FAILED", "IN", "OUT"],
      ...s.listeners.map((l) => [
        l.listen,
        l.upstream,
        l.proxyProtocol ?? "-",
        String(l.active),
        String(l.total),
        String(l.refused),
        String(l.failed),
        formatBytes(l.bytesIn),
        formatBytes(l.bytesOut),
      ]),
    ]),
  );
  lines.push("");
  if (s.clients.length === 0) {
    lines.push("no client has arrived yet");
    return lines;
  }
  const shown = s.clients.slice(0, limit);
  lines.push(
    `clients still arriving at the old host (${s.clients.length}; most recent first${s.clients.length > shown.length ? `, first ${shown.length} shown` : ""}):`,
  );
  lines.push(
    ...table([
      ["CLIENT", "ACTIVE", "TOTAL", "IN", "OUT", "FIRST SEEN", "LAST SEEN", "VIA"],
      ...shown.map((c) => [
        c.address,
        String(c.active),
        String(c.total),
        formatBytes(c.bytesIn),
        formatBytes(c.bytesOut),
        c.firstSeen,
        c.lastSeen,
        c.listeners.join(" "),
      ]),
    ]),
  );
  return lines;
}
