import type { Deps } from "../context.js";
import { ExitCode } from "../errors.js";
import { printDryRun } from "./_dry-run.js";
import { createReporter, type Reporter } from "../output/reporter.js";
import type { LiveView } from "../output/live.js";
import { stepLines } from "../output/steps.js";
import { formatAt, timeZoneOption } from "../output/time.js";
import { defaultExecutors } from "../timeline/executors.js";
import { isFinished, retryFailedSteps, runDueSteps, type StepExecutors, type StepRuntime } from "../timeline/run.js";
import type { Session } from "../timeline/session.js";
import { withRunOptions, withRunnerOutput, planFileOf } from "./_options.js";
import type { Notifier } from "../notify/notifier.js";
import { FLUSH_MS, openRunnerSession } from "../notify/session.js";
import { defineCommand } from "./_define.js";
import { formatDuration, type StepKind } from "@cutover/core";

/** Injected by tests and the demo: other executors, an abort signal standing for Ctrl-C. */
export interface RunHooks {
  executors?: StepExecutors;
  signal?: AbortSignal;
}

export function makeRunCommand(deps: Deps) {
  const hooks: RunHooks = deps.hooks ?? {};
  return defineCommand(
    {
      name: "run",
      description: "Run the timeline in the foreground: sleep until each step's time, do it, show progress; resumable",
      needs: "run",
      json: "print one JSON object per event instead of the live view",
      dryRun: "show what is due now and what it would change; change nothing",
      examples: [
        ["cutover run", "run cutover.yaml's timeline here, in the foreground"],
        ["cutover run --notify https://hooks.example.com/cutover"],
        ["cutover run plans/move.yaml", "Ctrl-C (or SIGTERM) stops cleanly; run it again to resume"],
      ],
      exitCodes: {
        0: "the timeline is finished",
        1: "a step failed, or a problem in the plan (the journal says where the run stands)",
        75: "another runner holds the plan",
        130: "stopped (Ctrl-C or SIGTERM); run it again to resume",
      },
    },
    (c) => withRunnerOutput(withRunOptions(c)),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    if (opts.dryRun) return printDryRun(deps, out, file, { state: opts.state, acceptRisk: opts.acceptRisk === true });
    const { session, notifier } = await openRunnerSession(deps, file, opts, "run", out);
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
    /** The live view to draw in (the demo's, which also carries its own lines); else one of its own on a TTY. */
    view?: LiveView;
  },
): Promise<void> {
  const executors = options.executors ?? defaultExecutors(deps.env);
  const live = out.tty && !out.json;
  const view = !live ? undefined : (options.view ?? (await import("../output/live.js")).createLiveView(deps.stdout));
  out.useLiveView(view);
  // A polling step (watch, drain) says how it goes every second or so: its latest line is shown in the live
  // view while the step runs, and printed (above the view, or in a pipe) at most every 10 s.
  const lastSaid = new Map<string, number>();
  const latest = new Map<StepKind, string>();
  const lastText = new Map<StepKind, string>();
  const frame = (): string[] => {
    const now = deps.now();
    const progress = [...latest].filter(([kind]) => !isFinished(session.state.steps[kind])).map(([, l]) => l);
    const extra = [...(options.extraLines?.() ?? []), ...progress];
    return [
      out.c.bold(`${session.timeline.name}  ${formatAt(now, options.timeZone, { seconds: false })}`),
      ...stepLines(out, session.timeline, session.state, now, options.timeZone),
      ...(extra.length > 0 ? ["", ...extra] : []),
    ];
  };
  const draw = () => view?.render(frame());
  const say = (text: string) => {
    const at = deps.now();
    if (out.json) {
      deps.stdout.write(`${JSON.stringify({ at: at.toISOString(), event: "log", text })}\n`);
      return;
    }
    const line = `${formatAt(at, options.timeZone, { seconds: true })}  ${text}`;
    const key = session.timeline.steps.find((s) => text.startsWith(`${s.kind}: `))?.kind;
    if (key) lastText.set(key, text);
    if (key && !/done|failed|stopped|quiet|deadline/.test(text)) {
      latest.set(key, line);
      if (at.getTime() - (lastSaid.get(key) ?? -Infinity) < 10_000) return draw();
      lastSaid.set(key, at.getTime());
    } else if (key) latest.delete(key);
    if (view) view.print([line]);
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
  try {
    for (const n of session.notes) out.warn(n);
    if (session.created) say(`journal started in ${session.store.dir}; the original records are saved`);
    else say(`resuming from the journal in ${session.store.dir}`);
    for (const k of await retryFailedSteps(session.state, session.store, deps.now()))
      say(`${k}: failed before; trying again`);
    for (const w of session.timeline.warnings) out.warn(w);
    let ranAny = false;
    for (;;) {
      if (session.state.rolledBack) {
        say("this run was rolled back; nothing more to do");
        break;
      }
      const tick = await runDueSteps(rt, session.store, executors);
      if (tick.ran.length > 0) ranAny = true;
      // A step's outcome, unless its executor just said it ("handover: done (redirect; ...)").
      if (!out.json)
        for (const r of tick.ran)
          if (r.status !== "pending" && !lastText.get(r.kind)?.startsWith(`${r.kind}: ${r.status}`))
            say(`${r.kind}: ${r.status}`);
      if (!live && !out.json && tick.ran.length > 0 && options.extraLines) for (const l of options.extraLines()) say(l);
      if (out.json)
        for (const r of tick.ran)
          deps.stdout.write(
            `${JSON.stringify({ at: deps.now().toISOString(), event: "step", step: r.kind, status: r.status })}\n`,
          );
      draw();
      if (tick.finished) {
        if (ranAny) options.notifier?.finished(deps.now());
        say("the timeline is finished");
        break;
      }
      if (options.signal.aborted) {
        say(options.stoppedLine ?? "stopped; run `cutover run` again to resume");
        throw new ExitCode(130);
      }
      if (!tick.nextAt) {
        say("nothing can run: a step failed; see `cutover status`");
        break;
      }
      const wait = tick.nextAt.getTime() - deps.now().getTime();
      if (wait >= 5000 && !live)
        say(`next: ${formatAt(tick.nextAt, options.timeZone, { seconds: true })} (in ${formatDuration(wait)})`);
      // On a terminal, wake to redraw when the view changes: the countdown shows two units ("1d3h", "3h5m",
      // "5m30s"), so every second in the last hour, else at each minute (the clock shows minutes).
      const nowMs = deps.now().getTime();
      const tickMs = wait < 3_600_000 ? 1000 : 60_000 - (nowMs % 60_000);
      const slice = live ? Math.min(Math.max(wait, 0), tickMs) : Math.max(wait, 0);
      try {
        await deps.sleep(Math.max(slice, 0), options.signal);
      } catch {
        // aborted: loop once more to journal and exit
      }
    }
  } finally {
    view?.done();
    if (!options.view) out.useLiveView(undefined);
  }
}
