import { resolverWhere, type Observation, type PropagationRound, type TargetRound } from "@cutover/dns";
import type { Reporter } from "../../output/reporter.js";
import { formatUtc } from "../../output/timeline.js";
import { formatDuration } from "@cutover/core";

const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19) + "Z";
// Plain lines (a pipe, a log) carry the date: `2027-12-01 14:00:05Z`.
const at = (ms: number) => formatUtc(new Date(ms), { seconds: true });
const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

function mark(out: Reporter, t: { propagated: boolean; status: string }): string {
  if (t.propagated) return out.c.green("✓");
  if (t.status === "NEW") return out.c.yellow("⏳");
  if (t.status === "ERROR") return out.c.dim("!");
  return out.c.red("✗");
}

/** An answer's records as one text: addresses space-separated, MX/NS/CNAME comma-separated, TXT quoted. */
export function recordsText(type: string, o: Pick<Observation, "addresses">): string {
  if (type === "A" || type === "AAAA") return o.addresses.join(" ");
  if (type === "TXT") return o.addresses.map((x) => JSON.stringify(x)).join(" ");
  return o.addresses.join(", ");
}

function answerText(t: TargetRound, now: number): { answer: string; ttl: string } {
  const o = t.observations.find((x) => x.status !== "ERROR") ?? t.observations[0];
  if (!o) return { answer: "", ttl: "" };
  if (o.status === "ERROR") return { answer: `ERROR ${o.error ?? ""}`, ttl: "" };
  const answer = o.addresses.length ? recordsText(t.type, o) : o.status;
  const base = o.ttl ?? o.negativeTtl;
  if (base === undefined) return { answer, ttl: "" };
  // The TTL counts down from what the resolver reported, as its cache does.
  const left = Math.max(0, Math.round(base - (now - o.at) / 1000));
  return { answer, ttl: `${left}s` };
}

/** The whole view for one round, as lines; `now` makes remaining TTLs count down between rounds. */
export function renderRound(out: Reporter, r: PropagationRound, now: number, width = 100): string[] {
  const lines: string[] = [];
  for (const z of r.authoritative?.zones ?? []) {
    lines.push(out.c.bold(`Authoritative ${z.apex}${z.maxSerial !== undefined ? ` (serial ${z.maxSerial})` : ""}`));
    for (const s of z.servers) {
      const answers = s.answers
        .map((a) => `${a.type} ${recordsText(a.type, a.observation) || a.observation.status}`)
        .join("; ");
      lines.push(
        `  ${s.ok ? out.c.green("✓") : out.c.red("✗")} ${pad(s.ns, 22)} ${pad(s.address, 22)} serial ${pad(String(s.serial ?? "?"), 11)} ${s.ok ? answers : s.problems.join("; ")}`,
      );
    }
    for (const p of z.problems.filter(
      (p) => p.startsWith("NS sets") || p.startsWith("no NS") || p.includes("delegation"),
    ))
      lines.push(`  ${out.c.red("!")} ${p}`);
  }
  let lastHeader = "";
  // Who runs each resolver and where, in a column of its own when any resolver is labelled.
  const whereWidth = Math.min(34, Math.max(0, ...r.targets.map((t) => resolverWhere(t).length)));
  for (const t of r.targets) {
    const header = `Resolvers ${t.name} ${t.type}`;
    if (header !== lastHeader) {
      lines.push(out.c.bold(header));
      lastHeader = header;
    }
    const { answer, ttl } = answerText(t, now);
    const until = t.expiresAt
      ? `  stale until ${hhmmss(t.expiresAt)} (in ${formatDuration(Math.max(0, t.expiresAt - now))})`
      : "";
    lines.push(
      `  ${mark(out, t)} ${pad(t.resolver, 26)} ${whereWidth ? `${out.c.dim(pad(resolverWhere(t).slice(0, whereWidth), whereWidth))} ` : ""}${pad(t.status, 10)} ${pad(answer, 32)} ${pad(ttl, 7)}${until}`,
    );
  }
  const counted = r.targets.filter((t) => !t.unreachable);
  const done = counted.filter((t) => t.propagated).length;
  const barWidth = Math.max(10, Math.min(40, width - 60));
  const filled = Math.round(r.progress * barWidth);
  const bar = `[${"█".repeat(filled)}${"░".repeat(barWidth - filled)}]`;
  lines.push(`${bar} ${Math.round(r.progress * 100)}%  ${done}/${counted.length} propagated${summaryTail(r, now)}`);
  return lines;
}

function summaryTail(r: PropagationRound, now: number): string {
  const e = r.estimate;
  const parts: string[] = [];
  if (r.authoritative) parts.push(r.authoritative.complete ? "authoritative ok" : "authoritative NOT in sync");
  if (e.expectedBy !== undefined)
    parts.push(`expected by ${hhmmss(e.expectedBy)} (in ${formatDuration(Math.max(0, e.expectedBy - now))})`);
  if (e.bound !== undefined) parts.push(`bound ${hhmmss(e.bound)}`);
  const unreachable = r.targets.filter((t) => t.unreachable).length;
  if (unreachable) parts.push(`${unreachable} unreachable`);
  return parts.length ? ` · ${parts.join(" · ")}` : "";
}

/** Plain lines for a pipe: one summary line per round and one per target that is not propagated. */
export function plainRound(r: PropagationRound): string[] {
  const lines: string[] = [];
  const counted = r.targets.filter((t) => !t.unreachable);
  const groups = r.groups.map((g) => `${g.group} ${g.newCount}/${g.total} NEW`).join(", ");
  const auth = r.authoritative ? `authoritative ${r.authoritative.complete ? "ok" : "not in sync"}, ` : "";
  const e = r.estimate;
  lines.push(
    `round ${r.index + 1} ${at(r.startedAt)}: ${auth}${groups}; ${counted.filter((t) => t.propagated).length}/${counted.length} propagated` +
      (e.expectedBy !== undefined ? `; expected by ${at(e.expectedBy)}` : "") +
      (e.bound !== undefined ? `; bound ${at(e.bound)}` : ""),
  );
  for (const p of r.authoritative?.problems ?? []) lines.push(`  authoritative: ${p}`);
  for (const t of r.targets) {
    if (t.propagated) continue;
    const o = t.observations.find((x) => x.status !== "ERROR") ?? t.observations[0];
    const what = o?.status === "ERROR" ? o.error : (o && recordsText(t.type, o)) || o?.status;
    const where = resolverWhere(t);
    lines.push(
      `  ${t.status} ${t.resolver}${where ? ` (${where})` : ""} ${t.name} ${t.type}: ${what ?? ""}${o?.ttl !== undefined ? ` ttl ${o.ttl}` : ""}${t.expiresAt ? ` stale until ${at(t.expiresAt)}` : ""}${t.unreachable ? " (unreachable)" : ""}`,
    );
  }
  return lines;
}
