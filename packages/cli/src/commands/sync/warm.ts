import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { createReporter } from "../../output/reporter.js";
import { openOldHostShell, runWarmSync } from "../../timeline/sync.js";
import { loadRemotePlan, withRemoteOptions } from "../relay/_remote.js";
import { defineCommand } from "../_define.js";

export function makeSyncWarmCommand(deps: Deps) {
  return defineCommand(
    {
      name: "warm",
      description:
        "Copy sync.files from the old host to the new one now (rsync over SSH), so the final pass in the handover's hold is short",
      needs: "plan",
      planHelp: "the plan file (default cutover.yaml): old.ssh says where the old host is, old.hostKey pins its key",
      json: "print the result as JSON",
      dryRun: "print the rsync commands the old host would run; copy nothing",
      examples: [["cutover sync warm --plan cutover.yaml"], ["cutover sync warm --dry-run"]],
      notes:
        "The timeline runs this pass by itself at swap - sync.warmBefore; run it again by hand as often as you\n" +
        "like (each pass copies what changed since the last). Without old.ssh in the plan it runs on this machine.",
      exitCodes: { 0: "copied (or printed)", 1: "rsync failed, or a problem in the plan or the hosts" },
    },
    (c) => withRemoteOptions(c),
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const loaded = await loadRemotePlan(deps, planFileOf(file, opts.plan));
    const shell = await openOldHostShell(loaded, deps, out, opts);
    try {
      const r = await runWarmSync(loaded, shell, (l) => out.line(l), opts.dryRun === true);
      out.data(r);
      if (!r.dryRun)
        out.line(`warm pass done in ${(r.durationMs / 1000).toFixed(1)} s: ${r.files} files, ${r.bytes} bytes`);
    } finally {
      shell.close();
    }
  });
}
