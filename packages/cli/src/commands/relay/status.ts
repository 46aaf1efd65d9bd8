import { Command } from "@commander-js/extra-typings";
import { queryAdmin, type RelayStatus } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { UsageError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { defaultAdminPath } from "../../old-host/relay-config.js";
import { formatStatus } from "./_format.js";
import { withRemoteOptions, showRemoteStatus } from "./_remote.js";

export function makeRelayStatusCommand(deps: Deps) {
  return withRemoteOptions(
    new Command("status").description(
      "Show a running relay: listeners, connections, bytes, and the clients still arriving",
    ),
    "with --remote: ",
  )
    .option("--admin <path>", "the relay's admin socket")
    .option("--limit <n>", "clients to list", "20")
    .option("--json", "print the whole status as JSON")
    .option("--remote", "ask the relay deployed on the plan's old host, over SSH (exit 3 if it is not running)")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover relay status
  $ cutover relay status --remote --plan cutover.yaml       # the relay deployed on the old host
  $ cutover relay status --json | jq '.clients[] | select(.active > 0) | .address'`,
    )
    .action(async (opts) => {
      const out = createReporter(deps, { json: opts.json === true, env: deps.env });
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit ${opts.limit}: expected a whole number`);
      if (opts.remote === true) return showRemoteStatus(deps, out, opts, limit);
      const status = (await queryAdmin(opts.admin ?? defaultAdminPath(deps.env), { cmd: "status" })) as RelayStatus;
      out.data(status);
      for (const line of formatStatus(status, limit)) out.line(line);
    });
}
