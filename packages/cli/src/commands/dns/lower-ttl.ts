import { Command } from "@commander-js/extra-typings";
import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";

export function makeDnsLowerTtlCommand(deps: Deps) {
  return new Command("lower-ttl")
    .description("Lower the TTL of every record that moves (and of SPF records naming the old host) to dns.lowTtl, now")
    .argument("[file]", "the plan file (default cutover.yaml)")
    .option("--plan <file>", "the plan file, as FILE")
    .option("--dry-run", "show each record's change and change nothing")
    .option("--force", "apply even when the change is larger than dns.maxChanges or 30 % of a zone")
    .option(
      "--save-originals <file>",
      "write the records as they are before the change (JSON, mode 0600) for a later restore",
    )
    .option("--json", "print the result as JSON (every record's outcome and the original records)")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover dns lower-ttl --dry-run
  $ cutover dns lower-ttl --plan cutover.yaml --save-originals originals.json
  $ cutover dns lower-ttl --json | jq ".outcomes[] | {name, status}"

Exit codes: 0 every record done and verified by reading back, 1 some record failed or a mistake in the
plan or options (nothing else is touched; running the same command again finishes the job).`,
    )
    .action(async (file, opts) => {
      await runDnsStep("lower", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
    });
}
