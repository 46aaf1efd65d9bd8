import { Command } from "@commander-js/extra-typings";
import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";

export function makeDnsRestoreCommand(deps: Deps) {
  return new Command("restore")
    .description(
      "Give the moved records their original TTLs back (they keep the new address); SPF drops the old address",
    )
    .argument("[file]", "the plan file (default cutover.yaml)")
    .option("--plan <file>", "the plan file, as FILE")
    .option("--dry-run", "show each record's change and change nothing")
    .option("--force", "apply even when the change is larger than dns.maxChanges or 30 % of a zone")
    .option("--originals <file>", "the original records (JSON list, from --save-originals or the journal)")
    .option("--ttl <seconds>", "without --originals: the TTL to restore on every moved record")
    .option("--json", "print the result as JSON (every record's outcome and the original records)")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover dns restore --originals originals.json --dry-run
  $ cutover dns restore --ttl 86400

Exit codes: 0 every record done and verified by reading back, 1 some record failed or a mistake in the
plan or options (nothing else is touched; running the same command again finishes the job).`,
    )
    .action(async (file, opts) => {
      await runDnsStep("restore", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
    });
}
