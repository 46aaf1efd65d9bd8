import { decide, isFinished, nextDueAt } from "../timeline/run.js";
import type { Reporter } from "./reporter.js";
import { formatAt } from "./time.js";
import { formatDuration, type Timeline } from "@cutover/core";
import type { RunState } from "@cutover/core/journal";
import { stepSummary } from "./summary.js";

/** The timeline with what is done, running, next and failed: for `run`'s live view and `status`. */
export function stepLines(out: Reporter, t: Timeline, state: RunState, now: Date, timeZone?: string): string[] {
  const { c } = out;
  const labelW = Math.max(...t.steps.map((s) => s.label.length)) + 2;
  let nextMarked = false;
  // Times with seconds on every row: the column lines up, and a step done at 14:00:00 reads 14:00:00Z, not 14:00Z.
  const at = (d: Date) => formatAt(d, timeZone, { seconds: true });
  // What core's policy says of each step not yet run: due now, or waiting (its time, a retry, a poll, a hold).
  const action = decide(t, state, now.getTime());
  const waits = new Map(action.waiting.map((w) => [w.step.step.kind, w.wait]));
  const rows = t.steps.map((step) => {
    const s = state.steps[step.kind];
    let mark: string;
    let when: string;
    let held = "";
    if (state.rolledBack && !isFinished(s)) {
      mark = c.dim("–");
      when = "rolled back";
    } else if (s?.status === "done") {
      mark = c.green("✓");
      when = `done ${at(new Date(s.doneAt!))}`;
    } else if (s?.status === "skipped") {
      mark = c.dim("–");
      when = "skipped";
    } else if (s?.status === "failed") {
      mark = c.red("✗");
      when = "failed";
    } else if (s?.status === "running" || (s && s.attempts === 0 && s.result)) {
      mark = c.yellow("▶");
      when = "in progress";
    } else {
      // A step waiting for another keeps its own time; else the time the policy gives (a held swap: later).
      const wait = waits.get(step.kind);
      const due = wait && wait.for !== "step" ? wait.until : nextDueAt(step, s);
      if (wait?.for === "hold") held = c.dim(`  (held until the highest old TTL has passed since the ${wait.after})`);
      const left = due - now.getTime();
      if (!nextMarked) {
        mark = c.cyan("→");
        nextMarked = true;
      } else mark = c.dim("·");
      when = left > 0 ? `${at(new Date(due))} in ${formatDuration(left)}` : "due now";
    }
    const err = s?.error && s.status !== "done" ? c.red(`  (${s.error})`) : "";
    return { mark, label: step.label, when, rest: `${stepSummary(step)}${err}${held}` };
  });
  const whenW = Math.max(...rows.map((r) => r.when.length));
  return rows.map((r) => `${r.mark} ${c.bold(r.label.padEnd(labelW))}${r.when.padEnd(whenW)}  ${r.rest}`);
}
