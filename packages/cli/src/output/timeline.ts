import type { Reporter } from "./reporter.js";
import type { ChangeSet } from "@cutover/core";
import { stepSummary } from "./summary.js";

export { formatPlanTime, formatUtc, needSeconds } from "@cutover/core";
import { formatUtc, needSeconds, type Timeline, type TimelineStep } from "@cutover/core";
import { ttlText } from "./words.js";
import { changeToJson, infoToJson, recordToJson } from "./records.js";

// One formatter per zone: building an Intl.DateTimeFormat costs ~1 ms, once per line was 60 ms of `plan`.
const localFormats = new Map<string, Intl.DateTimeFormat>();
function localFormat(timeZone: string | undefined): Intl.DateTimeFormat {
  let fmt = localFormats.get(timeZone ?? "");
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat("en-GB", {
      ...(timeZone ? { timeZone } : {}),
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
    localFormats.set(timeZone ?? "", fmt);
  }
  return fmt;
}

function utcAllYear(d: Date): boolean {
  const y = d.getUTCFullYear();
  return new Date(Date.UTC(y, 0, 1)).getTimezoneOffset() === 0 && new Date(Date.UTC(y, 6, 1)).getTimezoneOffset() === 0;
}

/** The same instant in the local zone (`TZ`), e.g. `14:00 CET`, or "" when local is UTC. */
export function formatLocal(d: Date, timeZone?: string): string {
  // Intl's first use loads ICU's zone data (~90 ms of a `plan`): skip it where local time is UTC all year.
  if (timeZone === undefined ? utcAllYear(d) : /^(Etc\/)?(UTC|GMT|Z(ulu)?)$/i.test(timeZone)) return "";
  const fmt = localFormat(timeZone);
  const zone = fmt.resolvedOptions().timeZone;
  if (zone === "UTC" || zone === "Etc/UTC") return "";
  return fmt.format(d);
}

export function changeSetToJson(set: ChangeSet) {
  return { step: set.step, changes: set.changes.map(changeToJson) };
}

export function stepToJson(s: TimelineStep) {
  return {
    kind: s.kind,
    at: s.at.toISOString(),
    label: s.label,
    summary: stepSummary(s),
    ...(s.kind === "watch" || s.kind === "drain" ? { until: s.until } : {}),
    ...(s.kind === "drain" ? { deadline: s.deadline.toISOString() } : {}),
    ...("changes" in s ? { changes: changeSetToJson(s.changes).changes } : {}),
    notes: s.notes,
  };
}

/** The timeline as JSON (documented in docs/plan-json.md). */
export function timelineToJson(t: Timeline) {
  return {
    name: t.name,
    now: t.now.toISOString(),
    swapAt: t.swapAt.toISOString(),
    steps: t.steps.map(stepToJson),
    targets: t.targets.map(recordToJson),
    info: t.info.map(infoToJson),
    rollback: changeSetToJson(t.rollback).changes,
    spf: t.spf.map(recordToJson),
    siblings: t.siblings.map(recordToJson),
    limits: t.limits,
    warnings: t.warnings,
    ...(t.risk ? { risk: { reason: t.risk.reason, safeUntil: t.risk.safeUntil.toISOString() } } : {}),
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** Prints the timeline for people: one line per step, its changes indented under it. */
export function printTimeline(
  out: Reporter,
  t: Timeline,
  options: { timeZone?: string; changes?: boolean } = {},
): void {
  const { c } = out;
  const labelWidth = Math.max(...t.steps.map((s) => s.label.length), 3) + 2;
  // One shape for the whole column: seconds on every row when any time has them.
  const seconds = needSeconds(t.steps.filter((s) => s.kind !== "watch").map((s) => s.at));
  const whenWidth = seconds ? 21 : 18;
  for (const step of t.steps) {
    const local = formatLocal(step.at, options.timeZone);
    const when = step.kind === "watch" ? pad(step.until, whenWidth) : pad(formatUtc(step.at, { seconds }), whenWidth);
    out.line(
      `${c.bold(pad(step.label, labelWidth))}${c.cyan(when)} ${local && step.kind !== "watch" ? c.dim(pad(`(${local})`, 20)) : pad("", local ? 20 : 0)} ${stepSummary(step)}`,
    );
    for (const note of step.notes) out.line(`${" ".repeat(labelWidth + 4)}${c.yellow("note:")} ${note}`);
    if (options.changes !== false && "changes" in step) {
      const rows = step.changes.changes;
      const nameW = Math.max(...rows.map((r) => r.name.length));
      for (const ch of rows) {
        const content =
          ch.before.content === ch.after.content ? ch.after.content : `${ch.before.content} → ${ch.after.content}`;
        const ttl =
          ch.before.ttl === ch.after.ttl
            ? `ttl ${ttlText(ch.after.ttl, ch.record)}`
            : `ttl ${ttlText(ch.before.ttl, ch.record)} → ${ttlText(ch.after.ttl, ch.record)}`;
        out.line(
          `${" ".repeat(labelWidth + 4)}${pad(ch.name, nameW)}  ${pad(ch.type, 4)}  ${content}  ${c.dim(ttl)}${ch.record.proxied ? c.yellow("  proxied") : ""}${ch.sibling ? c.dim("  stays (same RRset)") : ""}`,
        );
      }
    }
  }
  // SPF records naming the old host are changed (at the swap and the restore, listed there): not "also affected".
  const spf = new Set(t.spf.map((r) => `${r.zone}|${r.id}`));
  const info = t.info.filter((i) => !spf.has(`${i.record.zone}|${i.record.id}`));
  if (info.length > 0) {
    out.line();
    out.line(c.bold("Also affected (not changed by cutover):"));
    for (const i of info) out.line(`  ${i.record.name} ${i.record.type} ${i.record.content}: ${i.why}`);
  }
}
