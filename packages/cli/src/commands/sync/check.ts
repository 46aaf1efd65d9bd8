import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { ExitCode, UserError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { checkSync, openOldHostShell } from "../../timeline/sync.js";
import { loadRemotePlan, withRemoteOptions } from "../relay/_remote.js";
import { defineCommand } from "../_define.js";

export function makeSyncCheckCommand(deps: Deps) {
  return defineCommand(
    {
      name: "check",
      description:
        "Check what the final sync needs: rsync/mysqldump on both hosts, the old host's ssh to the new one, credentials, the replica",
      needs: "plan",
      planHelp: "the plan file (default cutover.yaml): old.ssh says where the old host is, old.hostKey pins its key",
      json: "print the checks as JSON",
      examples: [
        ["cutover sync check --plan cutover.yaml"],
        ["cutover sync check --json | jq '.checks[] | select(.ok == false)'"],
      ],
      notes: "The same checks run in the timeline's preflight step.",
      exitCodes: { 0: "every check passed", 1: "a check failed (each is listed), or a problem in the plan" },
    },
    (c) => withRemoteOptions(c),
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const loaded = await loadRemotePlan(deps, planFileOf(file, opts.plan));
    if (loaded.plan.sync === undefined) throw new UserError("the plan has no sync section");
    const shell = await openOldHostShell(loaded, deps, out, opts);
    try {
      const checks = await checkSync(loaded, shell);
      out.data({ host: shell.label, checks });
      for (const c of checks) out.line(`${c.ok ? "ok  " : "FAIL"} ${c.check}: ${c.detail}`);
      if (checks.some((c) => !c.ok)) throw new ExitCode(1);
    } finally {
      shell.close();
    }
  });
}
