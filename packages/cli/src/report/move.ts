import { formatAt } from "../output/time.js";
import { syncSummary, type RelaySummary } from "../timeline/relay.js";
import type { Lane, WatchResult } from "../timeline/watch.js";
import { esc, laneChart, locationTable, relayRateChart, type LaneData } from "./charts.js";
import { count } from "../output/words.js";
import { formatDuration, type StepKind, type Timeline } from "@cutover/core";
import { type JournalEvent, type RunState, resultOf } from "@cutover/core/journal";
import { stepSummary } from "../output/summary.js";

interface RecordRow {
  zone: string;
  name: string;
  type: string;
  status: string;
  before: { content: string; ttl: number };
  after: { content: string; ttl: number };
  error?: string;
}

export interface MoveReportOptions {
  /** The zone times are shown in (default UTC). */
  timeZone?: string;
  /** Lines added to the headline, e.g. the demo's "500 pages served, 0 failed". */
  headline?: string[];
}

/** Each resolver's lane from the watch rounds journaled: first asked, flipped for good, predicted expiry. */
export function lanesFromJournal(events: readonly JournalEvent[]): LaneData[] {
  const rounds = events
    .flatMap((e) =>
      e.step === "watch" && (e.type === "step.progress" || e.type === "step.done")
        ? [{ at: Date.parse(e.at), lanes: (e.result as WatchResult | undefined)?.lanes }]
        : [],
    )
    .filter((r): r is { at: number; lanes: Lane[] } => Array.isArray(r.lanes));
  const out = new Map<string, LaneData>();
  for (const r of rounds)
    for (const l of r.lanes) {
      const key = `${l.group}|${l.resolver}`;
      const cur: LaneData = out.get(key) ?? {
        resolver: l.resolver,
        group: l.group,
        ...(l.operator ? { operator: l.operator } : {}),
        ...(l.location ? { location: l.location } : {}),
        firstAt: r.at,
        lastAt: r.at,
      };
      cur.lastAt = r.at;
      if (l.status === "NEW") cur.flippedAt ??= r.at;
      else delete cur.flippedAt;
      if (l.expiresAt && cur.predictedAt === undefined) cur.predictedAt = Date.parse(l.expiresAt);
      out.set(key, cur);
    }
  return [...out.values()];
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;

function addressesMoved(timeline: Timeline): { from: string[]; to: string[]; names: string[] } {
  const swap = timeline.steps.flatMap((s) => (s.kind === "swap" ? s.changes.changes : []));
  // The moved addresses: a member of their RRset that stays moved from nowhere to nowhere.
  const addr = swap.filter((c) => (c.type === "A" || c.type === "AAAA") && !c.sibling);
  return {
    from: [...new Set(addr.map((c) => c.before.content))],
    to: [...new Set(addr.map((c) => c.after.content))],
    names: [...new Set(swap.map((c) => `${c.name} ${c.type}`))],
  };
}

/**
 * One self-contained page of a whole move, from the journal: a headline (what moved where, when each
 * step ran, how long until the world had moved, the relay's connections, clients still arriving,
 * failures), the timeline as it happened, every DNS change, a lane per resolver (flipped against
 * predicted expiry), the relay's new connections over time, and the rollback with its record changes.
 * No scripts and no external resources: it can be mailed or archived as it is.
 */
export function renderMoveReport(
  state: RunState,
  events: readonly JournalEvent[],
  timeline: Timeline,
  now: Date,
  options: MoveReportOptions = {},
): string {
  const tz = options.timeZone;
  const t = (iso: string | number | undefined) => (iso === undefined ? "–" : esc(formatAt(new Date(iso), tz)));
  const byStep = (type: string, step: string) => events.filter((e) => e.type === type && e.step === step);
  const rolledBackBefore = (k: StepKind) => state.rolledBack && state.steps[k]?.status !== "done";
  const rows = timeline.steps
    .map((s) => {
      const st = state.steps[s.kind];
      const first = byStep("step.start", s.kind)[0];
      const status = rolledBackBefore(s.kind) ? "rolled back" : (st?.status ?? "pending");
      return `<tr class="${esc(status)}"><td>${esc(s.label)}</td><td>${esc(s.kind)}</td><td>${t(s.at.getTime())}</td><td>${t(first?.at)}</td><td>${t(st?.doneAt)}</td><td>${esc(status)}</td><td>${esc(stepSummary(s))}${st?.error ? `<br><span class="bad">${esc(st.error)}</span>` : ""}</td></tr>`;
    })
    .join("\n");

  const changes = (["lower", "swap", "restore"] as const)
    .map((kind) => {
      const recs = ((state.steps[kind]?.result as { records?: RecordRow[] } | undefined)?.records ?? []) as RecordRow[];
      if (recs.length === 0) return "";
      return `<h3>${esc(kind)}</h3><table><tr><th>record</th><th>type</th><th>before</th><th>after</th><th>result</th></tr>
${recs.map((r) => `<tr><td>${esc(r.name)}</td><td>${esc(r.type)}</td><td>${esc(r.before.content)} ttl ${esc(r.before.ttl)}</td><td>${esc(r.after.content)} ttl ${esc(r.after.ttl)}</td><td class="${r.status === "applied" || r.status === "already" ? "ok" : "bad"}">${esc(r.status)}${r.error ? `: ${esc(r.error)}` : ""}</td></tr>`).join("\n")}</table>`;
    })
    .join("\n");

  // The rollback: when, and each record put back (its change from the plan, its outcome from the journal).
  const rollbackEvents = events.filter((e) => e.type.startsWith("rollback"));
  const outcomes = new Map<string, { status: string; error?: string }>();
  for (const e of rollbackEvents)
    for (const o of "outcomes" in e && Array.isArray(e.outcomes) ? e.outcomes : [])
      outcomes.set(`${o.name}|${o.type}`, o);
  const rollbackSection = rollbackEvents.length
    ? `<h2 id="rollback">Rollback</h2>
<p>${rollbackEvents.map((e) => `${t(e.at)} ${esc(e.type)}`).join(" · ")}</p>
<table id="rollback-changes"><tr><th>record</th><th>type</th><th>from</th><th>back to</th><th>result</th></tr>
${timeline.rollback.changes
  .map((c) => {
    const o = outcomes.get(`${c.name}|${c.type}`);
    const ok = o?.status === "applied" || o?.status === "already";
    return `<tr><td>${esc(c.name)}</td><td>${esc(c.type)}</td><td>${esc(c.before.content)} ttl ${esc(c.before.ttl)}</td><td>${esc(c.after.content)} ttl ${esc(c.after.ttl)}</td><td class="${ok ? "ok" : "bad"}">${esc(o?.status ?? "not reached")}${o?.error ? `: ${esc(o.error)}` : ""}</td></tr>`;
  })
  .join("\n")}</table>`
    : "";

  // Propagation.
  const watchResults = events
    .flatMap((e) =>
      e.step === "watch" && (e.type === "step.progress" || e.type === "step.done")
        ? [e.result as WatchResult | undefined]
        : [],
    )
    .filter((r): r is WatchResult => !!r?.summary);
  const last = watchResults.at(-1);
  const lanes = lanesFromJournal(events);
  const stale = last?.stale ?? [];

  // Relay: handover result, then each drain poll.
  const relayPoints = events
    .flatMap((e) =>
      (e.step === "drain" || e.step === "handover") && (e.type === "step.progress" || e.type === "step.done")
        ? [{ at: Date.parse(e.at), r: e.result as RelaySummary | undefined }]
        : [],
    )
    .filter((p): p is { at: number; r: RelaySummary } => typeof p.r?.total === "number");
  const lastRelay = relayPoints.at(-1)?.r;
  const clients = lastRelay?.staleClients ?? [];
  const handoverAt = state.steps.handover?.doneAt ?? state.steps.handover?.startedAt;
  const drainAt = state.steps.drain?.doneAt;
  const relayFrom = handoverAt ? Date.parse(handoverAt) : relayPoints[0]?.at;
  const relayTo = drainAt ? Date.parse(drainAt) : (relayPoints.at(-1)?.at ?? now.getTime());

  // The headline.
  const moved = addressesMoved(timeline);
  const swapDone = state.steps.swap?.doneAt;
  const watchDone = state.steps.watch?.status === "done" ? state.steps.watch.doneAt : undefined;
  const gaveUp = resultOf(state, "watch")?.gaveUp === true;
  const world =
    swapDone && watchDone && !gaveUp
      ? `${formatDuration(Date.parse(watchDone) - Date.parse(swapDone)) || "0s"} after the swap (${t(watchDone)})`
      : swapDone
        ? `not yet: ${stale.length} stale answers${gaveUp ? " when the watch stopped" : ""}`
        : "the swap has not happened";
  const quiet = 30 * 60_000;
  const arriving = clients.filter((c) => Date.parse(c.lastSeen) >= relayTo - quiet).length;
  const retries = events.filter((e) => e.type === "step.retry").length;
  const failed = Object.entries(state.steps).filter(([, s]) => s?.status === "failed");
  const ran = timeline.steps
    .filter((s) => state.steps[s.kind]?.doneAt && state.steps[s.kind]?.status === "done")
    .map((s) => `${s.kind} ${t(state.steps[s.kind]!.doneAt)}`);
  const syncLine = syncSummary(resultOf(state, "handover")?.handover);
  const headline = [
    `<li><b>Moved</b> ${esc(count(moved.names.length, "record"))} (${esc(moved.names.slice(0, 6).join(", "))}${moved.names.length > 6 ? ", …" : ""}) from <b>${esc(moved.from.join(", ") || "–")}</b> to <b>${esc(moved.to.join(", ") || "–")}</b></li>`,
    `<li><b>Steps</b> ${ran.length ? ran.join(" · ") : "none done yet"}</li>`,
    `<li><b>The world had moved</b> ${world}</li>`,
    `<li><b>Relay</b> ${plural(lastRelay?.total ?? 0, "connection")} carried to the new host from ${plural(clients.length, "client")}; ${esc(arriving)} still arriving${drainAt ? ` at the drain (${t(drainAt)})` : ""}</li>`,
    ...(syncLine === undefined ? [] : [`<li><b>Sync</b> ${esc(syncLine)}</li>`]),
    `<li class="${failed.length ? "bad" : ""}"><b>Failures</b> ${failed.length ? failed.map(([k, s]) => `${esc(k)}: ${esc(s?.error)}`).join("; ") : "none"}${retries ? ` (${retries} attempts retried)` : ""}</li>`,
    ...(options.headline ?? []).map((l) => `<li class="extra">${esc(l)}</li>`),
    ...(state.rolledBack ? [`<li class="bad"><b>Rolled back</b> ${t(state.rolledBack.at)}</li>`] : []),
  ];

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>cutover report: ${esc(state.name)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#111827;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f9fafb}.ok{color:#15803d}.bad{color:#b91c1c}.done td:nth-child(6){color:#15803d}.failed td:nth-child(6){color:#b91c1c}
h1{margin-bottom:.2rem;overflow-wrap:break-word}.meta{color:#6b7280}.risk{background:#fef2f2;border:1px solid #fecaca;padding:.5rem 1rem}
#headline{list-style:none;padding:.75rem 1rem;background:#f0f9ff;border:1px solid #bae6fd;border-radius:6px}#headline li{margin:.2rem 0;overflow-wrap:break-word}
#headline .extra{font-size:1.15em;font-weight:600}svg{display:block;max-width:100%;height:auto}
@media (max-width:760px){body{margin:1rem auto;font-size:13px}table{table-layout:fixed}th,td{overflow-wrap:anywhere;padding:.25rem}}
</style></head><body>
<h1>Move ${esc(state.name)}</h1>
<p class="meta">swap at ${t(timeline.swapAt.getTime())} · journal started ${t(state.createdAt)} · report written ${t(now.getTime())}${tz ? ` · times in ${esc(tz)}` : ""}${state.rolledBack ? ` · <b>rolled back ${t(state.rolledBack.at)}</b>` : ""}</p>
${timeline.risk ? `<p class="risk">Risk accepted: ${esc(timeline.risk.reason)}</p>` : ""}
<ul id="headline">
${headline.join("\n")}
</ul>
<h2>Timeline</h2>
<table id="timeline"><tr><th></th><th>step</th><th>planned</th><th>started</th><th>finished</th><th>status</th><th>what</th></tr>
${rows}</table>
<h2>DNS changes</h2>
${changes || "<p>No DNS change has been made yet.</p>"}
${rollbackSection}
<h2>Propagation</h2>
${lanes.length ? laneChart(lanes, timeline.swapAt.getTime(), tz) : "<p>Propagation has not been watched yet.</p>"}
<p>${last?.checked?.length ? `Checked ${esc(last.checked.join(", "))}. ` : ""}${last?.summary ? `${esc(last.summary)}.` : ""}${last?.bound ? ` No cache may hold the old address after ${t(last.bound)} (authoritative change + the old TTL).` : ""}</p>
${lanes.some((l) => l.location) ? locationTable(lanes) : ""}
${stale.length ? `<table id="stale-resolvers"><tr><th>resolver</th><th>run by, where</th><th>name</th><th>answer</th><th>expires</th></tr>${stale.map((s) => `<tr><td>${esc(s.resolver)}</td><td>${esc([s.operator, s.location].filter(Boolean).join(", ") || "–")}</td><td>${esc(s.name)}</td><td>${esc(s.status)}</td><td>${t(s.expiresAt)}</td></tr>`).join("")}</table>` : ""}
<h2>Relay on the old host</h2>
${
  relayFrom !== undefined
    ? relayRateChart(
        relayPoints.map((p) => ({ at: p.at, total: p.r.total })),
        { from: relayFrom, to: relayTo },
        tz,
      )
    : "<p>No relay traffic was recorded.</p>"
}
<p>${esc(lastRelay?.summary ?? "")}</p>
<h3>Clients still arriving after the swap</h3>
${clients.length ? `<table id="stale-clients"><tr><th>client</th><th>connections</th><th>bytes in</th><th>bytes out</th><th>last seen</th></tr>${clients.map((c) => `<tr><td>${esc(c.address)}</td><td>${esc(c.total)}</td><td>${esc(c.bytesIn)}</td><td>${esc(c.bytesOut)}</td><td>${t(c.lastSeen)}</td></tr>`).join("")}</table>` : "<p>None recorded.</p>"}
</body></html>
`;
}
