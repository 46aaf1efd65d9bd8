import { formatClock } from "../output/time.js";

export const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A time axis that fits the data: from its first to its last instant, with a little room each side. */
export function timeAxis(times: number[], minSpanMs = 10_000): { t0: number; t1: number } {
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const span = Math.max(minSpanMs, hi - lo);
  return { t0: lo - span * 0.02, t1: lo + span * 1.04 };
}

/** Tick marks at round steps (1 s … 1 d) for a span, about `n` of them. */
export function ticks(t0: number, t1: number, n = 6): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map(
    (s) => s * 1000,
  );
  const step = steps.find((s) => (t1 - t0) / s <= n) ?? 86_400_000;
  const out: number[] = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
  return out;
}

/** An axis label at x, kept inside [left, right]: labels near an edge are anchored to it instead of centred. */
function tickLabel(xPos: number, y: number, text: string, left: number, right: number): string {
  const half = text.length * 3.3;
  const anchor = xPos + half > right ? "end" : xPos - half < left ? "start" : "middle";
  const at = anchor === "end" ? Math.min(xPos, right) : anchor === "start" ? Math.max(xPos, left) : xPos;
  return `<text class="tick" x="${at.toFixed(1)}" y="${y}" font-size="11" fill="#6b7280" text-anchor="${anchor}">${esc(text)}</text>`;
}

export interface LaneData {
  resolver: string;
  group: string;
  /** Who runs it and where: lanes are grouped by location, and the label says it. */
  operator?: string;
  location?: string;
  /** When it was first asked after the swap. */
  firstAt: number;
  /** When it answered new for good (from then on), if it did. */
  flippedAt?: number;
  /** When its cache was predicted to expire, from the remaining TTL of its first old answer. */
  predictedAt?: number;
  lastAt: number;
}

const W = 900;

/**
 * One lane per resolver: old (amber) from the swap until it flipped, new (green) after; a dark tick at
 * the predicted cache expiry. The axis spans the swap to the last observation, flip or prediction.
 */
export function laneChart(unsorted: LaneData[], swapAt: number, timeZone?: string): string {
  if (unsorted.length === 0) return "<p>No resolver was watched.</p>";
  // Resolvers of one place side by side (stable: the watch's order within a place).
  const lanes = [...unsorted].sort((a, b) => (a.location ?? "~").localeCompare(b.location ?? "~"));
  const label = 230;
  const pad = { l: label + 8, r: 16, t: 40, b: 34 };
  const laneH = 20;
  const height = pad.t + pad.b + lanes.length * laneH;
  const times = [
    swapAt,
    ...lanes.flatMap((l) => [l.firstAt, l.lastAt, l.flippedAt ?? l.lastAt, l.predictedAt ?? l.lastAt]),
  ];
  const { t0, t1 } = timeAxis(times);
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const parts: string[] = [];
  for (const tk of ticks(t0, t1))
    parts.push(
      `<line x1="${x(tk).toFixed(1)}" x2="${x(tk).toFixed(1)}" y1="${pad.t}" y2="${height - pad.b}" stroke="#e5e7eb"/>`,
      tickLabel(x(tk), height - pad.b + 14, formatClock(new Date(tk), timeZone), label, W - 2),
    );
  parts.push(
    `<line x1="${x(swapAt).toFixed(1)}" x2="${x(swapAt).toFixed(1)}" y1="${pad.t - 6}" y2="${height - pad.b}" stroke="#111827" stroke-dasharray="3 3"/>`,
    `<text x="${(x(swapAt) + 4).toFixed(1)}" y="${pad.t - 10}" font-size="11" fill="#111827">swap</text>`,
  );
  lanes.forEach((l, i) => {
    const y = pad.t + i * laneH + 4;
    const end = l.flippedAt ?? l.lastAt;
    const full = l.location ? `${l.resolver} · ${l.location}` : l.resolver;
    const name = full.length > 34 ? `${full.slice(0, 33)}…` : full;
    const who = [l.resolver, l.operator, l.location].filter(Boolean).join(", ");
    parts.push(
      `<text class="lane-label" x="${label}" y="${y + 11}" font-size="12" text-anchor="end"><title>${esc(who)}</title>${esc(name)}</text>`,
      `<rect data-plot="old" x="${x(swapAt).toFixed(1)}" y="${y}" width="${Math.max(1, x(end) - x(swapAt)).toFixed(1)}" height="${laneH - 8}" fill="#f59e0b"><title>${esc(l.resolver)}: old until ${esc(formatClock(new Date(end), timeZone))}</title></rect>`,
    );
    if (l.flippedAt !== undefined)
      parts.push(
        `<rect data-plot="new" x="${x(l.flippedAt).toFixed(1)}" y="${y}" width="${Math.max(1, x(Math.max(l.lastAt, t1)) - x(l.flippedAt)).toFixed(1)}" height="${laneH - 8}" fill="#16a34a"><title>${esc(l.resolver)}: new from ${esc(formatClock(new Date(l.flippedAt), timeZone))}</title></rect>`,
      );
    if (l.predictedAt !== undefined)
      parts.push(
        `<rect data-plot="predicted" x="${(x(l.predictedAt) - 1.5).toFixed(1)}" y="${y - 3}" width="3" height="${laneH - 2}" fill="#1f2937"><title>predicted expiry ${esc(formatClock(new Date(l.predictedAt), timeZone))}</title></rect>`,
      );
  });
  const legend = [
    ["#f59e0b", "old answer"],
    ["#16a34a", "new answer"],
    ["#1f2937", "predicted cache expiry"],
  ]
    .map(
      ([c, t], i) =>
        `<rect x="${pad.l + i * 170}" y="4" width="10" height="10" fill="${c}"/><text x="${pad.l + 14 + i * 170}" y="13" font-size="11">${t}</text>`,
    )
    .join("");
  return `<svg id="lane-chart" data-chart="propagation" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="when each resolver flipped, against its predicted cache expiry"><rect data-plot-area="1" x="${pad.l}" y="${pad.t}" width="${W - pad.l - pad.r}" height="${height - pad.t - pad.b}" fill="none"/>${legend}${parts.join("")}</svg>`;
}

/** The lanes per location: how many resolvers there had flipped to the new answer for good. */
export function locationTable(lanes: LaneData[]): string {
  const by = new Map<string, { resolvers: string[]; flipped: number }>();
  for (const l of lanes) {
    const where = l.location ?? "unlabelled";
    const g = by.get(where) ?? { resolvers: [], flipped: 0 };
    g.resolvers.push(l.operator ? `${l.resolver} (${l.operator})` : l.resolver);
    if (l.flippedAt !== undefined) g.flipped++;
    by.set(where, g);
  }
  const rows = [...by]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([where, g]) =>
        `<tr><td>${esc(where)}</td><td>${g.flipped}/${g.resolvers.length}</td><td>${esc(g.resolvers.join(", "))}</td></tr>`,
    )
    .join("");
  return `<table id="by-location"><tr><th>where</th><th>new</th><th>resolvers</th></tr>${rows}</table>`;
}

/** Bucket sizes for the relay chart, so that a demo's minute and a real move's day both get readable bars. */
const BUCKETS = [10, 30, 60, 300, 900, 3600].map((s) => s * 1000);

export function bucketName(ms: number): string {
  return ms < 60_000 ? `${ms / 1000} s` : ms < 3_600_000 ? (ms === 60_000 ? "minute" : `${ms / 60_000} min`) : "hour";
}

/**
 * New connections through the relay per time bucket, from the handover to the drain (the relay's
 * cumulative count at each poll, differenced). The bucket is a minute unless the span asks for another.
 */
export function relayRateChart(
  points: Array<{ at: number; total: number }>,
  span: { from: number; to: number },
  timeZone?: string,
): string {
  if (points.length === 0) return "<p>No relay traffic was recorded.</p>";
  const len = Math.max(1, span.to - span.from);
  const bucket = BUCKETS.find((b) => len / b <= 60) ?? 3_600_000;
  const n = Math.max(1, Math.ceil(len / bucket));
  const counts = Array.from({ length: n }, () => 0);
  let prev = 0;
  for (const p of points) {
    const i = Math.min(n - 1, Math.max(0, Math.floor((p.at - span.from) / bucket)));
    counts[i]! += Math.max(0, p.total - prev);
    prev = Math.max(prev, p.total);
  }
  const height = 220;
  const pad = { l: 48, r: 16, t: 24, b: 34 };
  const max = Math.max(1, ...counts);
  const t0 = span.from;
  const t1 = span.from + n * bucket;
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v: number) => pad.t + (1 - v / max) * (height - pad.t - pad.b);
  const parts: string[] = [];
  for (const v of max >= 4 ? [0, Math.round(max / 2), max] : [0, max])
    parts.push(
      `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#6b7280">${Math.round(v)}</text>`,
    );
  for (const tk of ticks(t0, t1))
    parts.push(tickLabel(x(tk), height - pad.b + 18, formatClock(new Date(tk), timeZone), pad.l, W - 2));
  counts.forEach((c, i) => {
    const bx = x(t0 + i * bucket);
    const bw = Math.max(1, x(t0 + (i + 1) * bucket) - bx - 2);
    parts.push(
      `<rect data-plot="bar" x="${bx.toFixed(1)}" y="${y(c).toFixed(1)}" width="${bw.toFixed(1)}" height="${Math.max(c ? 1 : 0, y(0) - y(c)).toFixed(1)}" fill="#2563eb"><title>${c} connections from ${esc(formatClock(new Date(t0 + i * bucket), timeZone))}</title></rect>`,
    );
  });
  return `<svg id="relay-chart" data-chart="relay" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="new connections through the relay per ${bucketName(bucket)}"><rect data-plot-area="1" x="${pad.l}" y="${pad.t}" width="${W - pad.l - pad.r}" height="${height - pad.t - pad.b}" fill="none"/><text x="${pad.l}" y="14" font-size="11" fill="#374151">new connections per ${bucketName(bucket)}, handover to drain</text>${parts.join("")}</svg>`;
}
