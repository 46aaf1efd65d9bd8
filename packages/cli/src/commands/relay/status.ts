import { queryAdmin, type RelayStatus } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { UsageError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { defaultAdminPath } from "../../old-host/relay-config.js";
import { formatStatus } from "./_format.js";
import { withRemoteOptions, showRemoteStatus } from "./_remote.js";
import { defineCommand } from "../_define.js";
import { optionalPlanFileOf } from "../_options.js";

export function makeRelayStatusCommand(deps: Deps) {
  return defineCommand(
    {
      name: "status",
      description: "Show a running relay: listeners, connections, bytes, and the clients still arriving",
      needs: "plan?",
      planHelp: "with --remote, or to find the admin socket: the plan file (none: the default admin socket)",
      json: "print the whole status as JSON",
      examples: [
        ["cutover relay status"],
        ["cutover relay status --remote cutover.yaml", "the relay deployed on the old host"],
        ["cutover relay status --json | jq '.clients[] | select(.active > 0) | .address'"],
      ],
      exitCodes: {
        0: "the status is shown",
        1: "a problem in the plan, or the old host cannot be reached",
        3: "no relay is running (or none is deployed)",
      },
    },
    (c) =>
      withRemoteOptions(c, "with --remote: ")
        .option("--admin <path>", "the relay's admin socket")
        .option("--limit <n>", "clients to list", "20")
        .option("--remote", "ask the relay deployed on the plan's old host, over SSH (exit 3 if it is not running)"),
  ).action(async (file, given) => {
    const opts = { ...given, plan: optionalPlanFileOf(file, given.plan) };
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const limit = Number(opts.limit);
    if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--limit ${opts.limit}: expected a whole number`);
    if (opts.remote === true) return showRemoteStatus(deps, out, opts, limit);
    const status = (await queryAdmin(opts.admin ?? defaultAdminPath(deps.env), { cmd: "status" })) as RelayStatus;
    out.data(status);
    for (const line of formatStatus(status, limit)) out.line(line);
  });
}
