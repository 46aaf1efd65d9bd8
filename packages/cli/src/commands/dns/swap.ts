import { Command } from "@commander-js/extra-typings";
import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";

export function makeDnsSwapCommand(deps: Deps) {
  return new Command("swap")
    .description(
      "Point every A/AAAA record on the old host at the new one now (SPF gains the new address; reverse DNS when new.rdns is set)",
    )
    .argument("[file]", "the plan file (default cutover.yaml)")
    .option("--plan <file>", "the plan file, as FILE")
    .option("--dry-run", "show each record's change and change nothing")
    .option("--force", "apply even when the change is larger than dns.maxChanges or 30 % of a zone")
    .option(
      "--save-originals <file>",
      "write the records as they are before the change (JSON, mode 0600) for a later restore or rollback",
    )
    .option("--json", "print the result as JSON (every record's outcome and the original records)")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover dns swap --dry-run
  $ cutover dns swap --plan cutover.yaml
  $ cutover dns swap --force --json

Exit codes: 0 every record done and verified by reading back, 1 some record failed or a mistake in the
plan or options (nothing else is touched; running the same command again finishes the job).`,
    )
    .action(async (file, opts) => {
      await runDnsStep("swap", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
    });
}
