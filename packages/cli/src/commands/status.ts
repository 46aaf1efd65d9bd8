import { syncSummary } from "../timeline/relay.js";
import type { Deps } from "../context.js";
import { createReporter } from "../output/reporter.js";
import { stepLines } from "../output/steps.js";
import { formatAt, timeZoneOption } from "../output/time.js";
import { nextOf } from "../timeline/run.js";
import { openSession } from "../timeline/session.js";
import { edgeStatusForSession, edgeStatusLines } from "../schedule/edge.js";
import { planFileOf } from "./_options.js";
import { readNotifyRecord } from "../notify/notifier.js";
import { notificationLines } from "../notify/status.js";
import { defineCommand } from "./_define.js";
import type { DnsRecord } from "@cutover/core";
import { type RunState, resultOf } from "@cutover/core/journal";
import { stepSummary } from "../output/summary.js";
import { canonicalIp, sameIp } from "@cutover/core";

export type DnsState = "original" | "lowered" | "swapped" | "restored" | "other" | "missing" | "unknown";

/** Where one moved record stands now, compared with its journaled original. */
export function recordState(
  original: DnsRecord,
  current: DnsRecord | undefined,
  moved: readonly string[],
  restoreDone: boolean,
): DnsState {
  if (!current) return "missing";
  const address = original.type === "A" || original.type === "AAAA";
  const isOld = address
    ? canonicalIp(current.content) === canonicalIp(original.content)
    : current.content === original.content;
  // `moved`: what the swap and the restore give it (the new address; an SPF record's text with the new one).
  const isNew = moved.some((m) => (address ? canonicalIp(current.content) === canonicalIp(m) : current.content === m));
  if (isOld) return current.ttl === original.ttl ? "original" : "lowered";
  // A record whose TTL was never lowered looks the same swapped or restored: the journal tells.
  if (isNew) return current.ttl === original.ttl && restoreDone ? "restored" : "swapped";
  return "other";
}

export function makeStatusCommand(deps: Deps) {
  return defineCommand(
    {
      name: "status",
      description: "Show where a move stands: the timeline with what is done and next, each record, propagation, relay",
      needs: "run",
      json: "print the status as JSON",
      examples: [
        ["cutover status"],
        ["cutover status --offline", "from the journal alone, no DNS token needed"],
        ["cutover status cutover.yaml --json | jq '.records[] | select(.state != \"swapped\")'"],
      ],
      exitCodes: { 0: "the status is shown", 1: "a problem in the plan, or the journal cannot be read" },
    },
    (c) =>
      c
        .option("--offline", "only the journal; do not read the DNS provider")
        .option("--tz <zone>", "show times in this IANA zone (default: the plan's timezone, else UTC); JSON stays UTC"),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const now = deps.now();
    const session = await openSession({ file, cwd: deps.cwd, env: deps.env, now, stateDir: opts.state });
    try {
      for (const n of session.notes) out.warn(n);
      const { state, timeline, loaded } = session;
      let live: DnsRecord[] | undefined;
      let liveError: string | undefined;
      if (!opts.offline) {
        try {
          live = [];
          for (const zone of loaded.plan.dns.zones) live.push(...(await session.provider.listRecords(zone)));
        } catch (error) {
          live = undefined;
          liveError = error instanceof Error ? error.message : String(error);
        }
      }
      // What the move does to each original: the timeline's change sets (planned by planMove).
      const changesOf = (kind: "swap" | "restore") =>
        timeline.steps.flatMap((s) => (s.kind === kind ? s.changes.changes : []));
      const [swaps, restores] = [changesOf("swap"), changesOf("restore")];
      const records = state.originals.map((o) => {
        // Offline (or the provider unreachable): the record as the journal last left it.
        const fromJournal = live === undefined;
        const swap = swaps.find((c) => c.id === o.id && c.type === o.type);
        const restore = restores.find((c) => c.id === o.id && c.type === o.type);
        // An address beside the moving one in its RRset stays where it is.
        const stays = swap?.sibling === true;
        const next = [swap?.after.content, restore?.after.content].filter((x): x is string => x !== undefined);
        const same = (r: DnsRecord) => r.name === o.name && r.type === o.type;
        const current = live
          ? (live.find((r) => r.id === o.id && r.type === o.type) ??
            // Ids may follow the content (RRset providers): a member of the RRset with its old or new content.
            live.find(
              (r) =>
                same(r) &&
                (stays || o.type === "TXT"
                  ? r.content === o.content || o.type === "TXT"
                  : sameIp(r.content, o.content) || next.some((n) => sameIp(r.content, n))),
            ))
          : journaledRecord(state, o);
        return {
          name: o.name,
          type: o.type,
          ...(stays ? { stays: true } : {}),
          original: { content: o.content, ttl: o.ttl },
          current: current ? { content: current.content, ttl: current.ttl } : null,
          source: fromJournal ? ("journal" as const) : ("provider" as const),
          state: current
            ? recordState(o, current, next, state.steps.restore?.status === "done")
            : fromJournal
              ? ("unknown" as DnsState)
              : ("missing" as DnsState),
        };
      });
      // A rolled-back run is over: nothing is next, whatever its steps' times.
      const { nextAt, finished } = state.rolledBack ? { nextAt: undefined, finished: true } : nextOf(timeline, state);
      const edge = opts.offline ? undefined : await edgeStatusForSession(session);
      const failed = Object.entries(state.steps)
        .filter(([, s]) => s?.status === "failed")
        .map(([k, s]) => ({ step: k, error: s?.error }));
      const notify = await readNotifyRecord(session.store.dir);
      out.data({
        name: state.name,
        stateDir: session.store.dir,
        swapAt: timeline.swapAt.toISOString(),
        finished,
        rolledBack: state.rolledBack ?? null,
        nextAt: nextAt?.toISOString() ?? null,
        steps: timeline.steps.map((s) => ({
          kind: s.kind,
          at: s.at.toISOString(),
          label: s.label,
          summary: stepSummary(s),
          ...(state.steps[s.kind] ?? { status: "pending", attempts: 0 }),
        })),
        failed,
        records,
        ...(liveError ? { liveError } : {}),
        risk: timeline.risk ? { reason: timeline.risk.reason, safeUntil: timeline.risk.safeUntil.toISOString() } : null,
        edge: edge ?? null,
        notifications: notify ? notify.deliveries.slice(-10) : null,
      });
      const { c } = out;
      const tz = timeZoneOption(opts.tz, loaded.plan.timezone);
      const at = (d: Date) => formatAt(d, tz);
      out.line(`${c.bold(state.name)}  ${at(now)}  (journal: ${session.store.dir})`);
      if (timeline.risk) out.line(c.red(`RISK ACCEPTED: ${timeline.risk.reason}`));
      if (state.rolledBack) out.line(c.yellow(`rolled back at ${at(new Date(state.rolledBack.at))}`));
      out.line();
      for (const l of stepLines(out, timeline, state, now, tz)) out.line(l);
      out.line();
      out.line(c.bold("Records"));
      if (liveError) out.line(c.yellow(`  (cannot read the provider now: ${liveError})`));
      if (records.some((r) => r.source === "journal"))
        out.line(c.dim(`  (as the journal last left them${opts.offline ? "" : "; the provider could not be read"})`));
      for (const r of records) {
        const cur = r.current
          ? `${r.current.content} ttl ${r.current.ttl}`
          : r.source === "journal"
            ? "(not journaled)"
            : "(not found)";
        out.line(
          `  ${r.name.padEnd(28)} ${r.type.padEnd(5)} ${r.state.padEnd(9)} ${cur}${r.stays ? c.dim("  stays (same RRset)") : ""}`,
        );
      }
      const watch = resultOf(state, "watch");
      const relay = resultOf(state, "drain") ?? resultOf(state, "handover");
      if (state.rolledBack) {
        // What the watch and the relay said before the rollback is not where the move stands now.
        if (watch?.summary)
          out.line(`\n${c.bold("Propagation")}  not followed since the rollback (before it: ${watch.summary})`);
        if (state.steps.handover?.attempts) out.line(`${c.bold("Relay")}  stopped by the rollback`);
      } else {
        if (watch?.summary) out.line(`\n${c.bold("Propagation")}  ${watch.summary}`);
        if (relay?.summary) out.line(`${c.bold("Relay")}  ${relay.summary}`);
      }
      const sync = syncSummary(resultOf(state, "handover")?.handover);
      if (sync) out.line(`${c.bold("Sync")}  ${sync}`);
      if (notify) for (const l of notificationLines(out, notify, tz)) out.line(l);
      if (edge?.status) for (const l of edgeStatusLines(out, edge.status)) out.line(l);
      else if (edge?.error) out.line(c.yellow(`Edge  cannot reach the Worker: ${edge.error}`));
      if (state.rolledBack) out.line(c.yellow("\nthe move was rolled back: nothing more runs"));
      else if (finished) out.line(c.green("\nthe timeline is finished"));
      else if (nextAt) out.line(`\nnext: ${at(nextAt)}`);
      for (const f of failed)
        out.line(c.red(`\n${f.step} failed: ${f.error}; fix the cause and run \`cutover run\` (or tick) again`));
    } finally {
      await session.close();
    }
  });
}

/**
 * A moved record as the journal last left it: the rollback's originals when it put them back, else the
 * `after` of the last DNS step (lower, swap, restore) that wrote or found it, else the original.
 */
function journaledRecord(state: RunState, o: DnsRecord): DnsRecord | undefined {
  const back =
    state.rolledBack?.outcomes.find((x) => x.id === o.id && x.type === o.type) ??
    state.rolledBack?.outcomes.find((x) => x.name === o.name && x.type === o.type);
  if (back && (back.status === "applied" || back.status === "already")) return o;
  let current: DnsRecord | undefined = o;
  for (const kind of ["lower", "swap", "restore"] as const) {
    const step = state.steps[kind];
    const rows = (step?.result as { records?: JournaledRow[] } | undefined)?.records ?? [];
    const row = rows.find((r) => r.id === o.id && r.type === o.type);
    if (!row?.after || (row.status !== "applied" && row.status !== "already")) continue;
    current = { ...o, content: row.after.content, ttl: row.after.ttl };
  }
  return current;
}

interface JournaledRow {
  id: string;
  type: string;
  status: string;
  after?: { content: string; ttl: number };
}
