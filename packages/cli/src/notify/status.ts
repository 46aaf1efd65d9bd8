import type { Reporter } from "../output/reporter.js";
import { formatAt } from "../output/time.js";
import type { NotifyRecord } from "./notifier.js";

/** `status`'s lines about notifications: how the last ones went, and every recent one not delivered. */
export function notificationLines(out: Reporter, record: NotifyRecord, timeZone?: string): string[] {
  const { c } = out;
  const recent = record.deliveries.slice(-10);
  if (recent.length === 0) return [];
  const failed = recent.filter((d) => !d.ok);
  const last = recent[recent.length - 1]!;
  const lines = [
    `${c.bold("Notifications")}  last ${recent.length}: ${recent.length - failed.length} delivered, ${failed.length} not delivered` +
      `; latest ${last.type}${last.step ? ` (${last.step})` : ""} to ${last.target} ${last.ok ? c.green("delivered") : c.red("NOT delivered")} ${formatAt(new Date(last.finishedAt), timeZone)}`,
  ];
  for (const d of failed.slice(-3))
    lines.push(
      c.yellow(
        `  not delivered: ${d.type}${d.step ? ` (${d.step})` : ""} to ${d.target} after ${d.attempts} attempts: ${d.error ?? "failed"}`,
      ),
    );
  return lines;
}
