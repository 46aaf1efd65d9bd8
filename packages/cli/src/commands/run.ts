import { Command } from "@commander-js/extra-typings";
import type { Deps } from "../context.js";
import { formatDuration } from "../plan/duration.js";
import { ExitCode } from "../errors.js";
import { printDryRun } from "./_dry-run.js";
import { createReporter, type Reporter } from "../output/reporter.js";
import { stepLines } from "../output/steps.js";
import { formatAt, timeZoneOption } from "../output/time.js";
import { defaultExecutors } from "../timeline/executors.js";
import { retryFailedSteps, runDueSteps, type StepExecutors, type StepRuntime } from "../timeline/run.js";
import { openSession, runSessionOptions, type Session } from "../timeline/session.js";
import { withRunOptions } from "./_options.js";
import type { Notifier } from "../notify/notifier.js";
import { FLUSH_MS, notifierForSession } from "../notify/session.js";

/** Injected by tests and the demo: other executors, an abort signal standing for Ctrl-C. */
export interface RunHooks {
  executors?: StepExecutors;
  signal?: AbortSignal;
}

export function makeRunCommand(deps: Deps) {
  const hooks: RunHooks = deps.hooks ?? {};
  return withRunOptions(
    new Command("run")
      .description("Run the timeline in the foreground: sleep until each step's time, do it, show progress; resumable")
      .argument("[file]", "the plan file", "cutover.yaml"),
  )
    .option("--dry-run", "show what is due now and what it would change; change nothing")
    .option("--json", "print one JSON object per event instead of the live view")
    .option("--tz <zone>", "show times in this IANA zone, e.g. Europe/Berlin (default: the plan's timezone, else UTC)")
    .option(
      "--notify <url>",
      "also POST every step's start, end and failure to this webhook (see docs/notifications.md)",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ cutover run                      run cutover.yaml's timeline here, in the foreground
  $ cutover run --notify https://hooks.example.com/cutover
  $ cutover run plans/move.yaml      Ctrl-C (or SIGTERM) stops cleanly; run it again to resume

Exit codes: 0 the timeline is finished, 1 a step failed (the journal says where it stands), 130 stopped.`,
    )
    .action(async (file, opts) => {
      const out = createReporter(deps, { json: opts.json === true, env: deps.env });
      if (opts.dryRun) return printDryRun(deps, out, file, { state: opts.state, acceptRisk: opts.acceptRisk === true });
      const session = await openSession(runSessionOptions(deps, file, opts, { lockFor: "run", create: true }));
      let notifier: Notifier | undefined;
      try {
        notifier = await notifierForSession(session, {
          runner: "run",
          env: deps.env,
          flagUrl: opts.notify,
          out,
          ...(deps.hooks?.notify ? { deliver: deps.hooks.notify } : {}),
        });
      } catch (error) {
        await session.close();
        throw error;
      }
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      // Ctrl-C, or SIGTERM from systemctl stop or kill: both stop cleanly between two actions.
      if (!hooks.signal) for (const sig of STOP_SIGNALS) process.once(sig, onSigint);
      hooks.signal?.addEventListener("abort", onSigint, { once: true });
      try {
        await runForeground(session, deps, out, {
          ...(hooks.executors ? { executors: hooks.executors } : {}),
          signal: abort.signal,
          ...(notifier ? { notifier } : {}),
          timeZone: timeZoneOption(opts.tz, session.loaded.plan.timezone),
        });
      } finally {
        for (const sig of STOP_SIGNALS) process.removeListener(sig, onSigint);
        await session.close();
        await notifier?.flush(FLUSH_MS);
      }
    });
}

/** The signals that stop a foreground run cleanly (the journal is consistent after every action anyway). */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

export async function runForeground(
  session: Session,
  deps: Deps,
  out: Reporter,
  options: {
    executors?: StepExecutors;
    signal: AbortSignal;
    extraLines?: () => string[];
    /** What to say when stopped (default: how to resume). */
    stoppedLine?: string;
    /** Told when this process finishes the timeline (step events reach it through the journal). */
    notifier?: Notifier;
    /** The zone printed times are in (undefined: UTC). */
    timeZone?: string | undefined;
  },
): Promise<void> {
  const executors = options.executors ?? defaultExecutors(deps.env);
  const log: string[] = [];
  const live = out.tty && !out.json;
  // In a pipe, progress of a polling step (watch, drain) is printed at most every 10 s.
  const lastSaid = new Map<string, number>();
  const say = (text: string) => {
    const key = /^(\w+): /.exec(text)?.[1];
    const nowMs = deps.now().getTime();
    if (!live && !out.json && key && !/done|failed|stopped|quiet|deadline/.test(text)) {
      if (nowMs - (lastSaid.get(key) ?? -Infinity) < 10_000) return;
      lastSaid.set(key, nowMs);
    }
    const line = `${formatAt(deps.now(), options.timeZone)}  ${text}`;
    if (out.json) deps.stdout.write(`${JSON.stringify({ at: deps.now().toISOString(), event: "log", text })}\n`);
    else if (live) log.push(line);
    else out.line(line);
  };
  const rt: StepRuntime = {
    loaded: session.loaded,
    timeline: session.timeline,
    state: session.state,
    provider: session.provider,
    stateDir: session.store.dir,
    now: deps.now,
    sleep: deps.sleep,
    signal: options.signal,
    say,
  };
  for (const n of session.notes) out.warn(n);
  if (session.created) say(`journal started in ${session.store.dir}; the original records are saved`);
  else say(`resuming from the journal in ${session.store.dir}`);
  for (const k of await retryFailedSteps(session.state, session.store, deps.now()))
    say(`${k}: failed before; trying again`);
  for (const w of session.timeline.warnings) out.warn(w);
  let drawn = 0;
  let ranAny = false;
  const draw = () => {
    if (!live) return;
    const now = deps.now();
    const lines = [
      out.c.bold(`${session.timeline.name}  ${formatAt(now, options.timeZone)}`),
      ...stepLines(out, session.timeline, session.state, now, options.timeZone),
      ...(options.extraLines ? ["", ...options.extraLines()] : []),
      "",
      ...log.slice(-8),
    ];
    const cols = (deps.stdout as { columns?: number }).columns ?? 100;
    let text = drawn > 0 ? `\x1b[${drawn}A\x1b[J` : "";
    text += lines.map((l) => l.slice(0, cols + 20)).join("\n") + "\n";
    deps.stdout.write(text);
    drawn = lines.length;
  };
  for (;;) {
    if (session.state.rolledBack) {
      say("this run was rolled back; nothing more to do");
      break;
    }
    const tick = await runDueSteps(rt, session.store, executors);
    if (tick.ran.length > 0) ranAny = true;
    if (!live && !out.json) {
      for (const r of tick.ran) if (r.status !== "pending") say(`${r.kind}: ${r.status}`);
      if (tick.ran.length > 0 && options.extraLines) for (const l of options.extraLines()) say(l);
    }
    if (out.json)
      for (const r of tick.ran)
        deps.stdout.write(
          `${JSON.stringify({ at: deps.now().toISOString(), event: "step", step: r.kind, status: r.status })}\n`,
        );
    draw();
    if (tick.finished) {
      if (ranAny) options.notifier?.finished(deps.now());
      say("the timeline is finished");
      draw();
      break;
    }
    if (options.signal.aborted) {
      say(options.stoppedLine ?? "stopped; run `cutover run` again to resume");
      draw();
      throw new ExitCode(130);
    }
    if (!tick.nextAt) {
      say("nothing can run: a step failed; see `cutover status`");
      break;
    }
    const wait = tick.nextAt.getTime() - deps.now().getTime();
    if (wait >= 5000 && !live) say(`next: ${formatAt(tick.nextAt, options.timeZone)} (in ${formatDuration(wait)})`);
    // On a terminal, wake to redraw the countdown when it changes: each second in the last hour, each
    // minute before (it shows two units, "25h59m"), so a day's wait is not 86,400 redraws.
    const slice = !live
      ? Math.max(wait, 0)
      : wait >= 3_600_000
        ? wait % 60_000 || 60_000
        : Math.min(Math.max(wait, 0), 1000);
    try {
      await deps.sleep(Math.max(slice, 0), options.signal);
    } catch {
      // aborted: loop once more to journal and exit
    }
  }
}
