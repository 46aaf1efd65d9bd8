import { applyChangeSet } from "@cutover/dns";
import type { Deps } from "../context.js";
import { ExitCode, UserError } from "../errors.js";
import { createReporter } from "../output/reporter.js";
import { changeSetToJson, formatUtc } from "../output/timeline.js";
import { undoHandover } from "../timeline/relay.js";
import { cancelEdgeForSession, scheduleEdge } from "../schedule/edge.js";
import { openSession } from "../timeline/session.js";
import { planFileOf } from "./_options.js";
import type { Notifier } from "../notify/notifier.js";
import { FLUSH_MS, notifierForSession } from "../notify/session.js";
import { count } from "../output/words.js";
import { defineCommand } from "./_define.js";
import { describeChange } from "../output/records.js";
import { changeSetNow } from "../timeline/now.js";

/** Undo hooks for the parts that are not DNS (relay, services); set by the relay integration. */
export interface RollbackHooks {
  undoHandover?: (ctx: { planFile: string; dryRun: boolean; say: (t: string) => void }) => Promise<void>;
}

export function makeRollbackCommand(deps: Deps) {
  const hooks: RollbackHooks = deps.hooks ?? {};
  return defineCommand(
    {
      name: "rollback",
      description:
        "Undo the move: put the original records back (contents and TTLs), stop the relay, start the old services",
      needs: "run",
      json: "print the result as JSON",
      dryRun: "show what would be changed and change nothing",
      examples: [["cutover rollback --dry-run"], ["cutover rollback"]],
      exitCodes: {
        0: "rolled back (or nothing to do)",
        1: "refused, or some records could not be put back (run it again to finish)",
        75: "another runner holds the plan",
      },
    },
    (c) => c.option("--force", "roll back even after the relay has drained"),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const now = deps.now();
    const session = await openSession({
      file,
      cwd: deps.cwd,
      env: deps.env,
      now,
      stateDir: opts.state,
      ...(opts.dryRun ? {} : { lockFor: "rollback" }),
    });
    let notifier: Notifier | undefined;
    try {
      for (const n of session.notes) out.warn(n);
      const { state, timeline, store } = session;
      if (state.steps.drain?.status === "done" && !opts.force) {
        throw new UserError(
          "the relay has drained: clients of stale caches no longer reach the new host through it, and rolling back now would send new clients to the old host",
          {
            code: "E_ROLLBACK_LATE",
            details: ["if the old host must take over again, pass --force"],
          },
        );
      }
      const swapped =
        state.steps.swap?.status === "done" || state.steps.swap?.status === "running" || state.steps.swap?.attempts;
      const set = timeline.rollback;
      const say = (t: string) => out.line(t);
      if (opts.dryRun) {
        // Each record from where it stands now (a restore may have given the TTLs back already).
        const now = await changeSetNow(session, "rollback");
        out.data({ dryRun: true, changes: changeSetToJson(now).changes });
        out.line(`would put back ${count(now.changes.length, "record")}:`);
        for (const ch of now.changes) out.line(`  ${describeChange(ch)}`);
        if (state.steps.handover?.attempts) {
          if (hooks.undoHandover) await hooks.undoHandover({ planFile: session.loaded.path, dryRun: true, say });
          else await undoHandover(session.loaded, session.store.dir, deps.env, say, true);
        }
        return;
      }
      // The plan's notify targets hear of a rollback too (rollback.done becomes move.rolled-back).
      notifier = await notifierForSession(session, { runner: "rollback", env: deps.env, out });
      await store.append({ at: now.toISOString(), type: "rollback.start" });
      // Steps scheduled at the edge are cancelled first, so no swap can fire after the rollback.
      const edge = await cancelEdgeForSession(session);
      if (edge) {
        await store.append({ at: deps.now().toISOString(), type: "rollback.edge-cancelled" });
        say("edge: pending steps cancelled (remove the Worker with `cutover schedule --with edge --remove`)");
      }
      const report = await applyChangeSet(session.provider, set);
      const outcomes = report.outcomes.map((o) => ({
        id: o.change.id,
        name: o.change.name,
        type: o.change.type,
        status: o.status,
        ...(o.status === "failed" ? { error: o.error } : {}),
      }));
      await store.append({
        at: deps.now().toISOString(),
        type: report.complete ? "rollback.dns" : "rollback.dns.partial",
        outcomes,
      });
      for (const o of outcomes)
        out.line(`  ${o.name.padEnd(28)} ${o.type.padEnd(5)} ${o.status}${"error" in o ? `: ${o.error}` : ""}`);
      if (state.steps.handover?.attempts) {
        if (hooks.undoHandover) await hooks.undoHandover({ planFile: session.loaded.path, dryRun: false, say });
        else await undoHandover(session.loaded, store.dir, deps.env, say, false);
      }
      if (!report.complete) {
        out.data({ complete: false, outcomes });
        out.error("some records could not be put back (listed above); run `cutover rollback` again to finish");
        throw new ExitCode(1);
      }
      if (edge) {
        // The DNS is back: the Worker has nothing left to do.
        await scheduleEdge(session, out, { remove: true, dryRun: false }, deps).catch((e: Error) =>
          out.warn(
            `could not delete the edge Worker (${e.message}); delete it with \`cutover schedule --with edge --remove\``,
          ),
        );
      }
      await store.record(state, { at: deps.now().toISOString(), type: "rollback.done", outcomes });
      out.data({ complete: true, outcomes });
      out.line(
        `rolled back at ${formatUtc(deps.now())}: the records point at the old host again, with their original TTLs`,
      );
      if (swapped) {
        out.warn(
          `clients reached the new host from the swap (${formatUtc(timeline.swapAt)}) until now: data written there since (mail delivered, database writes, uploads) stays on the new host and is not brought back; copy it to the old host before its services take it over`,
        );
      }
    } finally {
      await session.close();
      await notifier?.flush(FLUSH_MS);
    }
  });
}
