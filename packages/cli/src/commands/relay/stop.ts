import { queryAdmin, type RelayStatus } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { UsageError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { defaultAdminPath } from "../../old-host/relay-config.js";
import { withRemoteOptions, stopRemote } from "./_remote.js";
import { defineCommand } from "../_define.js";
import { optionalPlanFileOf } from "../_options.js";
import { formatDuration, parseDuration } from "@cutover/core";

export function makeRelayStopCommand(deps: Deps) {
  return defineCommand(
    {
      name: "stop",
      description: "Stop a running relay: at once, or drain (stop accepting, let open connections finish)",
      needs: "plan?",
      planHelp: "with --remote, or to find the admin socket: the plan file (none: the default admin socket)",
      json: "print the result as JSON",
      dryRun: "say what would be stopped, change nothing",
      examples: [
        ["cutover relay stop --drain 10m", "no new connections; open ones get 10 minutes"],
        ["cutover relay stop", "close everything now, remove the redirect rules"],
        ["cutover relay stop --remote cutover.yaml --drain 10m", "the relay deployed on the old host"],
      ],
      exitCodes: {
        0: "stopped (or draining, without --wait)",
        1: "a problem in the plan, or the relay cannot be reached",
        3: "no relay is running",
      },
    },
    (c) =>
      withRemoteOptions(c, "with --remote: ")
        .option("--drain <duration>", "let open connections finish for up to this long, e.g. 30s, 10m, 2h")
        .option("--admin <path>", "the relay's admin socket")
        .option("--wait", "return only once the relay has stopped")
        .option("--remote", "stop the relay deployed on the plan's old host, over SSH (waits until it is gone)"),
  ).action(async (file, given) => {
    const opts = { ...given, plan: optionalPlanFileOf(file, given.plan) };
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const admin = opts.admin ?? defaultAdminPath(deps.env);
    let deadlineMs: number | undefined;
    if (opts.drain !== undefined) {
      deadlineMs = parseDuration(opts.drain);
      if (deadlineMs === undefined)
        throw new UsageError(`--drain ${opts.drain}: write a duration such as 30s, 10m or 2h`);
    }
    if (opts.remote === true) return stopRemote(deps, out, opts, deadlineMs);
    const status = (await queryAdmin(admin, { cmd: "status" })) as RelayStatus;
    const what =
      deadlineMs === undefined
        ? `stop the relay (pid ${status.pid}) now, closing ${status.active} open connection(s)`
        : `drain the relay (pid ${status.pid}): ${status.active} open connection(s) get up to ${formatDuration(deadlineMs)}`;
    if (opts.dryRun === true) {
      out.data({
        dryRun: true,
        action: deadlineMs === undefined ? "stop" : "drain",
        deadlineMs: deadlineMs ?? null,
        active: status.active,
      });
      out.line(`would ${what}`);
      return;
    }
    await queryAdmin(admin, deadlineMs === undefined ? { cmd: "stop" } : { cmd: "drain", deadlineMs });
    if (opts.wait === true) {
      for (;;) {
        const gone = await queryAdmin(admin, { cmd: "status" }, 2000).then(
          () => false,
          () => true,
        );
        if (gone) break;
        await deps.sleep(100);
      }
      // The admin socket closes before the process has finished (rules, SSH, helpers): wait for its exit.
      // (Unless the relay runs in this very process, as `main()` does in tests.)
      while (status.pid !== process.pid && isAlive(status.pid)) await deps.sleep(50);
    }
    out.data({
      ok: true,
      action: deadlineMs === undefined ? "stop" : "drain",
      deadlineMs: deadlineMs ?? null,
      active: status.active,
      stopped: opts.wait === true,
    });
    out.line(`${opts.wait === true ? "done: " : "asked to "}${what}`);
  });
}

/** Whether a process of this id exists (EPERM: it does, owned by someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
