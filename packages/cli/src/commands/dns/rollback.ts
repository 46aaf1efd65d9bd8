import { Command } from "@commander-js/extra-typings";
import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";

export function makeDnsRollbackCommand(deps: Deps) {
  return new Command("rollback")
    .description(
      "Put the moved records back on the old address with their original TTLs (DNS only; see cutover rollback)",
    )
    .argument("[file]", "the plan file (default cutover.yaml)")
    .option("--plan <file>", "the plan file, as FILE")
    .option("--dry-run", "show each record's change and change nothing")
    .option("--force", "apply even when the change is larger than dns.maxChanges or 30 % of a zone")
    .option("--originals <file>", "the original records (JSON list, from --save-originals or the journal)")
    .option("--ttl <seconds>", "without --originals: the TTL to give the records (default: keep the current one)")
    .option("--json", "print the result as JSON (every record's outcome and the original records)")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover dns rollback --originals originals.json --dry-run
  $ cutover dns rollback

Exit codes: 0 every record done and verified by reading back, 1 some record failed or a mistake in the
plan or options (nothing else is touched; running the same command again finishes the job).`,
    )
    .action(async (file, opts) => {
      await runDnsStep("rollback", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
    });
}
