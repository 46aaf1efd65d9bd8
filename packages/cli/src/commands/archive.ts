import { access, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Deps } from "../context.js";
import { UserError } from "../errors.js";
import { createReporter } from "../output/reporter.js";
import { loadPlan } from "../plan/load.js";
import { acquireLock } from "../state/lock.js";
import { stateDirFor, StateStore } from "../state/store.js";
import { planFileOf } from "./_options.js";
import { defineCommand } from "./_define.js";

/**
 * `cutover archive`: the only way to set a run's journal aside so that a new run of the same plan can
 * start. Nothing else ever starts a run where a journal exists (its original records would be lost).
 */
export function makeArchiveCommand(deps: Deps) {
  return defineCommand(
    {
      name: "archive",
      description: "Set a run's journal aside (renamed, never deleted) so the plan can start a new run",
      needs: "run",
      json: "print where the journal went as JSON",
      dryRun: "say where the journal would go; move nothing",
      examples: [["cutover archive --confirm shop-move", "the journal goes to .cutover/shop-move.archived-<time>"]],
      notes:
        "The archived journal keeps the run's original records: `cutover dns restore --originals` reads them from\n" +
        "its state.json. A new `cutover run` then reads the records as they are NOW as its originals.",
      exitCodes: {
        0: "archived",
        1: "no journal to archive, --confirm missing or wrong, or the directory cannot be moved",
        75: "a runner holds the plan",
      },
    },
    (c) => c.option("--confirm <name>", "the plan's name, typed out: says you mean it"),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const now = deps.now();
    const loaded = await loadPlan(file, { cwd: deps.cwd, now, allowPastSwap: true });
    const dir = stateDirFor(loaded.path, loaded.plan.name, opts.state, deps.cwd);
    const store = new StateStore(dir);
    const exists = await access(dir).then(
      () => true,
      () => false,
    );
    if (!exists) throw new UserError(`no journal of ${loaded.plan.name} in ${dir}: nothing to archive`);
    const to = `${dir}.archived-${now.toISOString().replace(/[:.]/g, "-")}`;
    if (opts.dryRun) {
      out.data({ archived: to, dryRun: true });
      out.line(`would move ${dir} → ${to}; dry run, nothing moved`);
      return;
    }
    if (opts.confirm !== loaded.plan.name) {
      throw new UserError(
        `archiving sets the run of ${loaded.plan.name} aside; say so with --confirm ${loaded.plan.name}`,
        {
          code: "E_CONFIRM",
          details: [
            "a new run then starts from the records as they are now: if the TTLs are still lowered or the",
            'records already swapped, those become its "originals"; roll back or finish this run first',
          ],
        },
      );
    }
    const lock = await acquireLock(store.lockPath, "archive", now);
    try {
      await rename(dir, to);
    } catch (error) {
      await lock.release();
      throw new UserError(`cannot move ${dir} to ${to}: ${(error as Error).message}`);
    }
    await rm(join(to, "lock"), { force: true });
    out.data({ archived: to });
    out.warn(`the run of ${loaded.plan.name} is archived in ${to}; the next \`cutover run\` starts a NEW run`);
    out.line(`archived ${dir} → ${to}`);
  });
}
