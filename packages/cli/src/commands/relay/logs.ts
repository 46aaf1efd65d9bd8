import { remoteRelayLogs } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { UsageError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { openOldHost } from "../../old-host/connect.js";
import { loadRemotePlan, withRemoteOptions } from "./_remote.js";
import { defineCommand } from "../_define.js";
import { planFileOf } from "../_options.js";

export function makeRelayLogsCommand(deps: Deps) {
  return defineCommand(
    {
      name: "logs",
      description: "Show the log of the relay deployed on the old host (binds, handover steps, failures)",
      needs: "plan",
      planHelp: "the plan file (default cutover.yaml): old.ssh says where the old host is, old.hostKey pins its key",
      json: "print the lines as a JSON list",
      examples: [
        ["cutover relay logs"],
        ["cutover relay logs plans/move.yaml -n 20 --json | jq -r '.lines[]' | grep handover"],
      ],
      exitCodes: {
        0: "the log is shown",
        1: "a problem in the plan, or the old host cannot be reached",
        3: "no relay is deployed there",
      },
    },
    (c) => withRemoteOptions(c).option("-n, --lines <n>", "how many of the last lines", "100"),
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const lines = Number(opts.lines);
    if (!Number.isInteger(lines) || lines < 1)
      throw new UsageError(`--lines ${opts.lines}: expected a whole number from 1`);
    const loaded = await loadRemotePlan(deps, planFileOf(file, opts.plan));
    const { host, dir } = await openOldHost(deps, out, loaded, opts);
    try {
      const text = await remoteRelayLogs(host, { dir, lines });
      const list = text.split("\n").filter((l, i, a) => l !== "" || i < a.length - 1);
      out.data({ host: host.label, log: `${dir}/relay.log`, lines: list });
      for (const l of list) out.line(l);
    } finally {
      host.close();
    }
  });
}
