import { resolverWhere } from "./servers.js";
import type { PropagationReport, TargetRound } from "./watch.js";

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const iso = (ms: number | undefined) => (ms === undefined ? "–" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563", "#db2777"];

/** An extra source group for the report (RIPE Atlas per country), shown in its own table and in the chart. */
export interface ReportAtlasSection {
  measurementId?: number;
  probes: number;
  countries: Array<{ country: string; probes: number; newCount: number; old: number; other: number }>;
}

/**
 * The chart: share NEW over time, one line per source group. The time axis spans the rounds (the data),
 * not the bound: a bound a day after the swap would squeeze minutes of rounds into the first pixels. The
 * expected expiry and the bound are drawn where they fall inside the axis, else named at its right edge.
 */
export function renderShareChart(report: PropagationReport, width = 760, height = 260): string {
  const pad = { l: 44, r: 12, t: 12, b: 36 };
  const pts = report.history;
  const groups = [...new Set(pts.flatMap((p) => Object.keys(p.shares)))];
  const first = pts[0]?.at ?? report.startedAt;
  const last = pts.at(-1)?.at ?? first;
  const span = Math.max(1000, last - first);
  const t0 = first - span * 0.02;
  const t1 = first + span * 1.02;
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - v) * (height - pad.t - pad.b);
  const parts: string[] = [];
  for (const v of [0, 0.25, 0.5, 0.75, 1])
    parts.push(
      `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#6b7280">${v * 100}%</text>`,
    );
  parts.push(
    `<text x="${pad.l}" y="${height - 8}" font-size="11" fill="#6b7280">${esc(iso(first))}</text>`,
    `<text x="${width - pad.r}" y="${height - 8}" font-size="11" fill="#6b7280" text-anchor="end">${esc(iso(last))}</text>`,
  );
  let beyond = 0;
  const mark = (t: number | undefined, label: string, color: string) => {
    if (t === undefined) return;
    if (t > t1) {
      // Past the data: named at the right edge with its time, one line under the other.
      parts.push(
        `<text class="mark-beyond" x="${width - pad.r - 4}" y="${pad.t + 12 + beyond * 14}" font-size="11" fill="${color}" text-anchor="end">${esc(label)} ${esc(iso(t))} →</text>`,
      );
      beyond++;
      return;
    }
    parts.push(
      `<line class="mark" x1="${x(t)}" x2="${x(t)}" y1="${pad.t}" y2="${height - pad.b}" stroke="${color}" stroke-dasharray="4 3"/>`,
      `<text x="${x(t) - 4}" y="${pad.t + 12}" font-size="11" fill="${color}" text-anchor="end">${esc(label)}</text>`,
    );
  };
  mark(report.latest?.estimate.expectedBy, "expected", "#d97706");
  mark(report.latest?.estimate.bound, "bound", "#dc2626");
  const legendStep = Math.max(90, Math.floor((width - pad.l - 16) / Math.max(1, groups.length)));
  groups.forEach((g, i) => {
    const color = COLORS[i % COLORS.length]!;
    const series = pts
      .filter((p) => p.shares[g] !== undefined)
      .map((p) => `${x(p.at).toFixed(1)},${y(p.shares[g]!).toFixed(1)}`);
    if (series.length === 1) {
      const [cx, cy] = series[0]!.split(",");
      parts.push(`<circle data-plot="point" cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
    }
    parts.push(
      `<polyline class="series" data-plot="series" data-group="${esc(g)}" fill="none" stroke="${color}" stroke-width="2" points="${series.join(" ")}"/>`,
      `<rect x="${pad.l + 8 + i * legendStep}" y="${height - 30}" width="10" height="10" fill="${color}"/>`,
      `<text x="${pad.l + 22 + i * legendStep}" y="${height - 21}" font-size="11">${esc(g.length > 18 ? `${g.slice(0, 17)}…` : g)}</text>`,
    );
  });
  return `<svg id="share-chart" data-chart="share" xmlns="http://www.w3.org/2000/svg" width="100%" style="max-width:${width}px" viewBox="0 0 ${width} ${height}" role="img" aria-label="share of NEW answers over time per source group"><rect data-plot-area="1" x="${pad.l}" y="${pad.t}" width="${width - pad.l - pad.r}" height="${height - pad.t - pad.b}" fill="none"/>${parts.join("")}</svg>`;
}

/** Resolvers grouped by where they are (the operator's country for anycast services): NEW of asked. */
export function locationGroups(
  targets: readonly TargetRound[],
): Array<{ location: string; resolvers: string[]; newCount: number; total: number }> {
  const by = new Map<string, { resolvers: Set<string>; newCount: number; total: number }>();
  for (const t of targets) {
    if (t.unreachable) continue;
    const where = t.location ?? "unlabelled";
    const g = by.get(where) ?? { resolvers: new Set<string>(), newCount: 0, total: 0 };
    g.resolvers.add(t.resolver);
    g.total++;
    if (t.status === "NEW") g.newCount++;
    by.set(where, g);
  }
  return [...by]
    .map(([location, g]) => ({ location, resolvers: [...g.resolvers], newCount: g.newCount, total: g.total }))
    .sort((a, b) => a.location.localeCompare(b.location));
}

/**
 * One self-contained HTML page (no scripts, no external resources): the chart, the authoritative and
 * resolver tables of the latest round, the RIPE Atlas summary when there is one, and the expiry bound.
 */
export function renderPropagationHtml(
  report: PropagationReport,
  options: { title?: string; atlas?: ReportAtlasSection } = {},
): string {
  const r = report.latest;
  const title = options.title ?? `DNS propagation: ${report.names.join(", ")}`;
  const est = r?.estimate;
  const mark = (ok: boolean, pending = false) =>
    ok ? `<span class="ok">✓</span>` : pending ? `<span class="wait">⏳</span>` : `<span class="bad">✗</span>`;
  const auth = (r?.authoritative?.zones ?? [])
    .map(
      (z) => `<h3>${esc(z.apex)} ${z.maxSerial !== undefined ? `(serial ${z.maxSerial})` : ""}</h3>
<p>NS in the zone: ${esc(z.childNs.join(", ") || "–")}${z.parentNs ? `; at the parent: ${esc(z.parentNs.join(", "))}` : ""}</p>
<table class="auth"><tr><th></th><th>server</th><th>address</th><th>serial</th><th>answers</th><th>problems</th></tr>
${z.servers
  .map(
    (s) =>
      `<tr><td>${mark(s.ok)}</td><td>${esc(s.ns)}</td><td>${esc(s.address)}</td><td>${esc(s.serial ?? "–")}</td><td>${esc(s.answers.map((a) => `${a.type} ${a.observation.addresses.join(" ") || a.observation.status}`).join("; "))}</td><td>${esc(s.problems.join("; "))}</td></tr>`,
  )
  .join("\n")}</table>`,
    )
    .join("\n");
  const rows = (r?.targets ?? [])
    .map((t) => {
      const o = t.observations.find((x) => x.status !== "ERROR") ?? t.observations[0];
      const answer =
        o?.status === "ERROR"
          ? (o.error ?? "error")
          : (t.type === "TXT" ? o?.addresses.map((a) => JSON.stringify(a)).join(" ") : o?.addresses.join(", ")) ||
            o?.status ||
            "";
      return `<tr class="st-${t.status.toLowerCase()}"><td>${mark(t.propagated, t.status === "NEW")}</td><td>${esc(t.group)}</td><td>${esc(t.resolver)}</td><td>${esc(resolverWhere(t) || "–")}</td><td>${esc(t.name)} ${esc(t.type)}</td><td>${esc(t.status)}</td><td>${esc(answer)}</td><td>${esc(o?.ttl ?? "")}</td><td>${esc(t.expiresAt ? iso(t.expiresAt) : "")}</td></tr>`;
    })
    .join("\n");
  const places = locationGroups(r?.targets ?? []);
  const byPlace =
    places.length > 1 || (places.length === 1 && places[0]!.location !== "unlabelled")
      ? `<h2>By location</h2>
<table id="by-location"><tr><th>where</th><th>resolvers</th><th>answers NEW</th></tr>
${places.map((p) => `<tr><td>${esc(p.location)}</td><td>${esc(p.resolvers.join(", "))}</td><td>${p.newCount}/${p.total}</td></tr>`).join("\n")}</table>`
      : "";
  const atlas = options.atlas
    ? `<h2>RIPE Atlas (${options.atlas.probes} probes, their own resolvers${options.atlas.measurementId ? `, measurement ${options.atlas.measurementId}` : ""})</h2>
<table><tr><th>country</th><th>probes</th><th>NEW</th><th>OLD</th><th>other</th></tr>
${options.atlas.countries.map((c) => `<tr><td>${esc(c.country)}</td><td>${c.probes}</td><td>${c.newCount}</td><td>${c.old}</td><td>${c.other}</td></tr>`).join("\n")}</table>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111827;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}td{overflow-wrap:anywhere}td,th{border-bottom:1px solid #e5e7eb;padding:3px 10px;text-align:left;font-size:13px}
@media (max-width:720px){body{margin:12px}table,tbody,tr,td{display:block}tr:first-child{display:none}tr{border-bottom:1px solid #d1d5db;padding:4px 0}td{border:0;padding:1px 6px}}
.ok{color:#16a34a}.bad{color:#dc2626}.wait{color:#d97706}.summary{font-size:16px}.st-old td,.st-mixed td{background:#fef3c7}.st-error td{color:#6b7280}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="summary">${report.propagated ? `<span class="ok">✓ propagated</span>` : `<span class="bad">not yet propagated</span>`} ·
${esc(expectedLine(report))} · ${report.rounds} rounds since ${esc(iso(report.startedAt))}</p>
<p>Expected by (latest stale cache expiry seen): <b>${esc(iso(est?.expectedBy))}</b> ·
bound (authoritative complete ${esc(iso(est?.authoritativeCompleteAt))} + ${esc(est?.oldTtl ? `old TTL ${est.oldTtl.seconds} s, ${est.oldTtl.source}` : "old TTL unknown")}${est?.negativeTtl !== undefined ? `, negative TTL ${est.negativeTtl} s` : ""}): <b id="bound">${esc(iso(est?.bound))}</b></p>
${renderShareChart(report)}
<h2>Authoritative servers</h2>
${auth || "<p>not checked</p>"}
<h2>Resolvers (latest round, ${esc(iso(r?.startedAt))})</h2>
<table class="resolvers"><tr><th></th><th>group</th><th>resolver</th><th>run by, where</th><th>query</th><th>status</th><th>answer</th><th>TTL</th><th>stale until</th></tr>
${rows}</table>
${byPlace}
${atlas}
<p style="color:#6b7280">Resolvers may cap TTLs and serve stale answers (RFC 8767); keep the old address serving until the bound has passed.</p>
</body></html>
`;
}

/** "203.0.113.20 expected, 198.51.100.10 before"; with per-name sets, one clause per set. */
function expectedLine(report: PropagationReport): string {
  const sets: Array<Pick<PropagationReport, "expect" | "old" | "records"> & { names?: string[] }> = [
    ...(report.expect.length || report.records
      ? [{ expect: report.expect, old: report.old, ...(report.records ? { records: report.records } : {}) }]
      : []),
    ...(report.sets ?? []).map((s) => ({
      names: [...s.names],
      expect: [...s.expect],
      old: [...(s.old ?? [])],
      ...(s.records ? { records: s.records } : {}),
    })),
  ];
  return sets
    .map((s) => {
      const who = s.names && (report.sets?.length ?? 0) > 0 ? `${s.names.join(", ")}: ` : "";
      return `${who}${expectedText(s)} expected${s.old.length ? `, ${s.old.join(", ")} before` : ""}`;
    })
    .join(" · ");
}

function expectedText(report: Pick<PropagationReport, "expect" | "records">): string {
  const parts = report.expect.length ? [report.expect.join(", ")] : [];
  for (const [type, v] of Object.entries(report.records ?? {}))
    if (v)
      parts.push(`${type} ${type === "TXT" ? v.expect.map((x) => JSON.stringify(x)).join(" ") : v.expect.join(", ")}`);
  return parts.join("; ");
}
