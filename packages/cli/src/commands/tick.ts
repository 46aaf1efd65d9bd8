import type { Deps } from "../context.js";
import { ExitCode } from "../errors.js";
import { printDryRun } from "./_dry-run.js";
import { createReporter } from "../output/reporter.js";
import { formatAt, timeZoneOption } from "../output/time.js";
import { defaultExecutors } from "../timeline/executors.js";
import { retryFailedSteps, runDueSteps, type StepExecutors } from "../timeline/run.js";
import { atEnvironment, atJobFor, credentialNames } from "../timeline/schedule.js";
import type { Session } from "../timeline/session.js";
import { readRecord, selfCommand, submitAt, writeRecord } from "../schedule/local.js";
import type { Reporter } from "../output/reporter.js";
import { withRunOptions, withRunnerOutput, planFileOf } from "./_options.js";
import { FLUSH_MS, openRunnerSession } from "../notify/session.js";
import { defineCommand } from "./_define.js";

/** Queues one at job for the next due time, unless one is queued for that time already. */
async function rearmAt(
  session: Session,
  next: Date,
  out: Reporter,
  env: Record<string, string | undefined>,
): Promise<void> {
  const rec = (await readRecord(session)) ?? { with: "at" as const, jobs: [] };
  const iso = next.toISOString();
  if (rec.jobs?.some((j) => j.at === iso)) return;
  const job = atJobFor(next, {
    planPath: session.loaded.path,
    stateDir: session.store.dir,
    command: selfCommand(),
    workDir: session.loaded.dir,
  });
  // The job reads the credentials from the environment file, as the jobs `schedule` queued do.
  const id = await submitAt(job.timeSpec, job.script, atEnvironment(env, credentialNames(session.loaded.plan)));
  rec.jobs = [...(rec.jobs ?? []), { id, at: iso }];
  await writeRecord(session, rec);
  out.line(`queued at job ${id} for ${iso}`);
}

export function makeTickCommand(deps: Deps) {
  const hooks: { executors?: StepExecutors } = deps.hooks ?? {};
  return defineCommand(
    {
      name: "tick",
      description: "Do what is due now and exit (for cron, systemd timers or at); never does a step twice",
      needs: "run",
      json: "print what ran as JSON",
      dryRun: "show what is due now and what it would change; change nothing",
      examples: [
        ["cutover tick cutover.yaml", "from a systemd timer or at job (see cutover schedule)"],
        ["*/5 * * * * cd /srv/move && cutover tick", "from cron"],
      ],
      exitCodes: {
        0: "nothing failed (the JSON says whether the timeline is finished)",
        1: "a step failed, or a problem in the plan",
        75: "another runner holds the plan (the next tick does what is due)",
      },
    },
    (c) =>
      withRunnerOutput(withRunOptions(c))
        .option("--retry", "try failed steps again (after fixing their cause); without it a failed step waits for you")
        .option("--rearm-at", "after running, queue an at job for the next due time (used by `schedule --with at`)"),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    if (opts.dryRun) return printDryRun(deps, out, file, { state: opts.state, acceptRisk: opts.acceptRisk === true });
    const { session, notifier } = await openRunnerSession(deps, file, opts, "tick", out);
    try {
      const tz = timeZoneOption(opts.tz, session.loaded.plan.timezone);
      for (const n of session.notes) out.warn(n);
      if (session.created) for (const w of session.timeline.warnings) out.warn(w);
      if (session.state.rolledBack) {
        out.line("this run was rolled back; nothing to do");
        out.data({ ran: [], finished: true, rolledBack: true });
        return;
      }
      if (opts.retry)
        for (const k of await retryFailedSteps(session.state, session.store, deps.now()))
          out.line(`${k}: failed before; trying again`);
      const result = await runDueSteps(
        {
          loaded: session.loaded,
          timeline: session.timeline,
          state: session.state,
          provider: session.provider,
          stateDir: session.store.dir,
          now: deps.now,
          sleep: deps.sleep,
          oneShot: true,
          say: (t) => out.line(`${formatAt(deps.now(), tz, { seconds: true })}  ${t}`),
        },
        session.store,
        hooks.executors ?? defaultExecutors(deps.env),
      );
      if (result.finished && result.ran.length > 0) notifier?.finished(deps.now());
      const stuck = Object.entries(session.state.steps).filter(([, st]) => st?.status === "failed");
      out.data({
        ran: result.ran,
        finished: result.finished,
        nextAt: result.nextAt?.toISOString() ?? null,
        failed: stuck.map(([k, st]) => ({ step: k, error: st?.error })),
      });
      if (result.ran.length === 0) out.line("nothing due");
      for (const r of result.ran) out.line(`${r.kind}: ${r.status}`);
      if (opts.rearmAt && !result.finished && result.nextAt) await rearmAt(session, result.nextAt, out, deps.env);
      if (stuck.length > 0) {
        for (const [k, st] of stuck)
          out.error(`${k} failed: ${st?.error}; fix the cause, then \`cutover tick --retry\` or \`cutover run\``);
        throw new ExitCode(1);
      }
      if (result.finished) out.line("the timeline is finished");
      else if (result.nextAt) out.line(`next: ${formatAt(result.nextAt, tz)}`);
    } finally {
      await session.close();
      // A tick exits when done: the deliveries under way get a bounded wait (the step is done already).
      await notifier?.flush(FLUSH_MS);
    }
  });
}
