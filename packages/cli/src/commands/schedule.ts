import { Option } from "@commander-js/extra-typings";
import type { Deps } from "../context.js";
import { createReporter } from "../output/reporter.js";
import type { ScheduleTarget } from "../timeline/schedule.js";
import { openSession, runSessionOptions } from "../timeline/session.js";
import { scheduleEdge } from "../schedule/edge.js";
import { atJobs, selfCommand, systemd } from "../schedule/local.js";
import { withRunOptions, planFileOf } from "./_options.js";
import { defineCommand } from "./_define.js";

export function makeScheduleCommand(deps: Deps) {
  return defineCommand(
    {
      name: "schedule",
      description:
        "Arm the timeline on a machine you own: systemd timers or at jobs that call `cutover tick` at each step time",
      needs: "run",
      json: "print the result as JSON",
      dryRun: "same as --print",
      examples: [
        ["cutover schedule --with systemd --print", "see the units first"],
        ["sudo cutover schedule --with systemd", "install and start the timers"],
        ["cutover schedule --with at", "one at job per step time"],
        ["cutover schedule --with systemd --remove"],
        ["cutover schedule --with edge --dry-run", "what would be uploaded to a Cloudflare Worker"],
        ["cutover schedule --with edge", "the DNS steps run at the edge (docs/edge.md)"],
      ],
      notes: "The journal starts now: the original records are read and saved before anything is armed.",
      exitCodes: {
        0: "armed (or printed, or removed)",
        1: "a problem in the plan, or the units, jobs or Worker could not be installed (the message says why)",
        75: "another runner holds the plan",
      },
    },
    (c) =>
      withRunOptions(c)
        .addOption(
          new Option("--with <runner>", "where the steps run")
            .choices(["systemd", "at", "edge"] as const)
            .makeOptionMandatory(),
        )
        .option("--print", "print the units or jobs and install nothing")
        .option("--remove", "take the units or jobs away")
        .option(
          "--unit-dir <dir>",
          "systemd: where to write units (default /etc/systemd/system, or ~/.config/systemd/user when not root)",
        )
        .option("--no-start", "systemd: write the units but do not enable them")
        .option(
          "--account-id <id>",
          "edge: the Cloudflare account for the Worker (default CLOUDFLARE_ACCOUNT_ID or dns.accountId)",
        ),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const print = opts.print === true || opts.dryRun === true;
    // --print/--dry-run plans a new run in memory: no journal, no state directory.
    const session = await openSession(
      runSessionOptions(deps, file, opts, { create: !opts.remove, ...(print ? { dryRun: true } : {}) }),
    );
    try {
      const target: ScheduleTarget = {
        planPath: session.loaded.path,
        stateDir: session.store.dir,
        command: selfCommand(),
        workDir: session.loaded.dir,
        // The open-ended steps end by the drain's deadline, or the watch's bound when that is later.
        pollUntilMs: Math.max(
          session.loaded.plan.schedule.drain.deadline,
          session.loaded.plan.propagation.timeout ??
            Math.max(...session.state.originals.map((o) => o.ttl)) * 1000 + session.loaded.plan.schedule.margin,
        ),
      };
      if (opts.with === "edge")
        await scheduleEdge(session, out, { dryRun: print, remove: opts.remove, accountId: opts.accountId }, deps);
      else if (opts.with === "systemd") await systemd(session, target, out, { ...opts, print }, deps.env);
      else await atJobs(session, target, out, { ...opts, print }, deps.env);
    } finally {
      await session.close();
    }
  });
}
