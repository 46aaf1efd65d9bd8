import type { Deps } from "../context.js";
import { UserError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import { stepLines } from "../output/steps.js";
import { changeSetToJson } from "../output/timeline.js";
import { loadPlan } from "../plan/load.js";
import { readPlanRecords } from "../timeline/records.js";
import { dueInTurn } from "../timeline/run.js";
import { openSession } from "../timeline/session.js";
import type { RunState } from "@cutover/core/journal";
import { stepSummary } from "../output/summary.js";
import { planTimeline } from "@cutover/core";

/**
 * `run --dry-run` / `tick --dry-run`: what is due now and what each due DNS step would change, from the
 * journal when a run is under way, else from a fresh plan. Takes no lock and writes nothing.
 */
export async function printDryRun(
  deps: Deps,
  out: Reporter,
  file: string | undefined,
  opts: { state?: string | undefined; acceptRisk?: boolean },
): Promise<void> {
  const now = deps.now();
  let timeline;
  let state: RunState | undefined;
  try {
    const session = await openSession({ file, cwd: deps.cwd, env: deps.env, now, stateDir: opts.state });
    timeline = session.timeline;
    state = session.state;
    await session.close();
  } catch (error) {
    if (!(error instanceof UserError) || error.code !== "E_NO_RUN") throw error;
    const loaded = await loadPlan(file, { cwd: deps.cwd, now });
    const { records, capabilities } = await readPlanRecords(loaded, deps.env);
    const result = planTimeline(loaded.plan, records, now, { capabilities, acceptRisk: opts.acceptRisk === true });
    if (!result.ok)
      throw new UserError(`${loaded.file}: ${result.reason}`, { code: "E_PLAN_UNSAFE", details: result.problems });
    timeline = result.timeline;
  }
  const empty: RunState = state ?? ({ steps: {} } as RunState);
  const due = dueInTurn(timeline, empty, now.getTime());
  out.data({
    dryRun: true,
    journal: state !== undefined,
    due: due.map((s) => ({
      kind: s.kind,
      at: s.at.toISOString(),
      ...("changes" in s ? { changes: changeSetToJson(s.changes).changes } : {}),
    })),
  });
  out.line(`dry run: nothing is changed${state ? "" : " (no run has started: the journal would start now)"}`);
  for (const l of stepLines(out, timeline, empty, now)) out.line(l);
  out.line();
  if (due.length === 0) out.line("nothing is due now");
  for (const s of due) {
    out.line(`due now: ${s.kind}: ${stepSummary(s)}`);
    for (const c of "changes" in s ? s.changes.changes : [])
      out.line(`  ${c.name} ${c.type} ${c.before.content} ttl ${c.before.ttl} → ${c.after.content} ttl ${c.after.ttl}`);
  }
}
