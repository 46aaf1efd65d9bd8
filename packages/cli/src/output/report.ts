import { renderShareChart, type PropagationReport } from "@cutover/dns";
import type { JournalEvent, RunState } from "../state/store.js";
import type { Timeline } from "../timeline/plan.js";
import type { RelaySummary } from "../timeline/relay.js";
import type { WatchResult } from "../timeline/watch.js";

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const t = (iso: string | undefined) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–");

interface RecordRow {
  zone: string;
  name: string;
  type: string;
  status: string;
  before: { content: string; ttl: number };
  after: { content: string; ttl: number };
  error?: string;
}

/** The relay's traffic over time: forwarded connections (total) and open ones, from the drain polls. */
function relayChart(points: Array<{ at: number; total: number; active: number }>, width = 760, height = 200): string {
  if (points.length === 0) return "<p>No relay traffic was recorded.</p>";
  const pad = { l: 44, r: 12, t: 12, b: 30 };
  const t0 = points[0]!.at;
  const t1 = Math.max(t0 + 1000, points.at(-1)!.at);
  const max = Math.max(1, ...points.map((p) => p.total));
  const x = (v: number) => pad.l + ((v - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - v / max) * (height - pad.t - pad.b);
  const line = (key: "total" | "active", color: string) =>
    `<polyline class="relay-${key}" fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${x(p.at).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ")}"/>`;
  return `<svg id="relay-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="relay connections over time">
<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(0)}" y2="${y(0)}" stroke="#e5e7eb"/>
<text x="${pad.l - 6}" y="${y(max) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${max}</text>
<text x="${pad.l - 6}" y="${y(0) + 4}" text-anchor="end" font-size="11" fill="#6b7280">0</text>
<text x="${pad.l}" y="${height - 8}" font-size="11" fill="#6b7280">${esc(t(new Date(t0).toISOString()))}</text>
<text x="${width - pad.r}" y="${height - 8}" font-size="11" fill="#6b7280" text-anchor="end">${esc(t(new Date(t1).toISOString()))}</text>
${line("total", "#2563eb")}${line("active", "#d97706")}
<rect x="${pad.l + 8}" y="${pad.t}" width="10" height="10" fill="#2563eb"/><text x="${pad.l + 22}" y="${pad.t + 9}" font-size="11">forwarded (total)</text>
<rect x="${pad.l + 160}" y="${pad.t}" width="10" height="10" fill="#d97706"/><text x="${pad.l + 174}" y="${pad.t + 9}" font-size="11">open</text>
</svg>`;
}

/**
 * One self-contained page of a whole move, from the journal: the timeline as it happened, every DNS
 * change record by record, the propagation chart, the relay's traffic over time and the stale clients.
 * No scripts and no external resources: it can be mailed or archived as it is.
 */
export function renderMoveReport(
  state: RunState,
  events: readonly JournalEvent[],
  timeline: Timeline,
  now: Date,
): string {
  const byStep = (type: string, step: string) => events.filter((e) => e.type === type && e.step === step);
  const rows = timeline.steps
    .map((s) => {
      const st = state.steps[s.kind];
      const first = byStep("step.start", s.kind)[0];
      const status = state.rolledBack && st?.status !== "done" ? "rolled back" : (st?.status ?? "pending");
      return `<tr class="${esc(status)}"><td>${esc(s.label)}</td><td>${esc(s.kind)}</td><td>${t(s.at.toISOString())}</td><td>${t(first?.at)}</td><td>${t(st?.doneAt)}</td><td>${esc(status)}</td><td>${esc(s.summary)}${st?.error ? `<br><span class="bad">${esc(st.error)}</span>` : ""}</td></tr>`;
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
  const rollback = events.filter((e) => e.type.startsWith("rollback"));

  // Propagation: one point per watch round, from the journal.
  const watchPoints = events
    .filter((e) => e.step === "watch" && (e.type === "step.progress" || e.type === "step.done"))
    .map((e) => ({ at: Date.parse(e.at), result: e.result as WatchResult | undefined }))
    .filter((p): p is { at: number; result: WatchResult } => !!p.result?.shares);
  const last = watchPoints.at(-1)?.result;
  const prop: PropagationReport = {
    names: [...new Set(timeline.targets.map((r) => r.name))],
    expect: [],
    old: [],
    startedAt: timeline.swapAt.getTime(),
    rounds: watchPoints.length,
    history: watchPoints.map((p) => ({
      at: p.at,
      shares: Object.fromEntries(p.result.shares.map((s) => [s.group, s.shareNew])),
    })),
    propagated: last?.propagated ?? false,
  };
  if (last?.expectedBy || last?.bound) {
    prop.latest = {
      estimate: {
        ...(last.expectedBy ? { expectedBy: Date.parse(last.expectedBy) } : {}),
        ...(last.bound ? { bound: Date.parse(last.bound) } : {}),
      },
    } as PropagationReport["latest"];
  }
  const stale = last?.stale ?? [];

  // Relay: handover result, then each drain poll.
  const relayPoints = events
    .filter(
      (e) => (e.step === "drain" || e.step === "handover") && (e.type === "step.progress" || e.type === "step.done"),
    )
    .map((e) => ({ at: Date.parse(e.at), r: e.result as RelaySummary | undefined }))
    .filter((p): p is { at: number; r: RelaySummary } => typeof p.r?.total === "number");
  const lastRelay = relayPoints.at(-1)?.r;
  const clients = lastRelay?.staleClients ?? [];

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cutover report: ${esc(state.name)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#111827;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}th,td{border-bottom:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f9fafb}.ok{color:#15803d}.bad{color:#b91c1c}.done td:nth-child(6){color:#15803d}.failed td:nth-child(6){color:#b91c1c}
h1{margin-bottom:.2rem}.meta{color:#6b7280}.risk{background:#fef2f2;border:1px solid #fecaca;padding:.5rem 1rem}
</style></head><body>
<h1>Move ${esc(state.name)}</h1>
<p class="meta">swap at ${t(timeline.swapAt.toISOString())} · journal started ${t(state.createdAt)} · report written ${t(now.toISOString())}${state.rolledBack ? ` · <b>rolled back ${t(state.rolledBack.at)}</b>` : ""}</p>
${timeline.risk ? `<p class="risk">Risk accepted: ${esc(timeline.risk.reason)}</p>` : ""}
<h2>Timeline</h2>
<table id="timeline"><tr><th></th><th>step</th><th>planned</th><th>started</th><th>finished</th><th>status</th><th>what</th></tr>
${rows}</table>
<h2>DNS changes</h2>
${changes || "<p>No DNS change has been made yet.</p>"}
${rollback.length ? `<h3>rollback</h3><ul>${rollback.map((e) => `<li>${t(e.at)} ${esc(e.type)}</li>`).join("")}</ul>` : ""}
<h2>Propagation</h2>
${watchPoints.length ? renderShareChart(prop) : "<p>Propagation has not been watched yet.</p>"}
<p>${esc(last?.summary ?? "")}${last?.bound ? ` No cache may hold the old address after ${t(last.bound)} (authoritative change + the old TTL).` : ""}</p>
${stale.length ? `<table id="stale-resolvers"><tr><th>resolver</th><th>name</th><th>answer</th><th>expires</th></tr>${stale.map((s) => `<tr><td>${esc(s.resolver)}</td><td>${esc(s.name)}</td><td>${esc(s.status)}</td><td>${t(s.expiresAt)}</td></tr>`).join("")}</table>` : ""}
<h2>Relay on the old host</h2>
${relayChart(relayPoints.map((p) => ({ at: p.at, total: p.r.total, active: p.r.active })))}
<p>${esc(lastRelay?.summary ?? "")}</p>
<h3>Clients still arriving after the swap</h3>
${clients.length ? `<table id="stale-clients"><tr><th>client</th><th>connections</th><th>bytes in</th><th>bytes out</th><th>last seen</th></tr>${clients.map((c) => `<tr><td>${esc(c.address)}</td><td>${esc(c.total)}</td><td>${esc(c.bytesIn)}</td><td>${esc(c.bytesOut)}</td><td>${t(c.lastSeen)}</td></tr>`).join("")}</table>` : "<p>None recorded.</p>"}
</body></html>
`;
}
