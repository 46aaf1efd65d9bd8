import { Command } from "@commander-js/extra-typings";
import { remoteRelayLogs } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { UsageError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { openOldHost } from "../../old-host/connect.js";
import { loadRemotePlan, withRemoteOptions } from "./_remote.js";

export function makeRelayLogsCommand(deps: Deps) {
  return withRemoteOptions(
    new Command("logs").description(
      "Show the log of the relay deployed on the old host (binds, handover steps, failures)",
    ),
  )
    .option("-n, --lines <n>", "how many of the last lines", "100")
    .option("--json", "print the lines as a JSON list")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover relay logs --plan cutover.yaml
  $ cutover relay logs -n 20 --json | jq -r '.lines[]' | grep handover`,
    )
    .action(async (opts) => {
      const out = createReporter(deps, { json: opts.json === true, env: deps.env });
      const lines = Number(opts.lines);
      if (!Number.isInteger(lines) || lines < 1)
        throw new UsageError(`--lines ${opts.lines}: expected a whole number from 1`);
      const loaded = await loadRemotePlan(deps, opts.plan);
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
