import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";
import { defineDnsStep } from "./_verb.js";

export function makeDnsRollbackCommand(deps: Deps) {
  return defineDnsStep(
    {
      name: "rollback",
      description:
        "Put the moved records back on the old address with their original TTLs (DNS only; see cutover rollback)",
      examples: [["cutover dns rollback --originals originals.json --dry-run"], ["cutover dns rollback"]],
    },
    (c) =>
      c
        .option("--originals <file>", "the original records (JSON list, from --save-originals or the journal)")
        .option("--ttl <seconds>", "without --originals: the TTL to give the records (default: keep the current one)"),
  ).action(async (file, opts) => {
    await runDnsStep("rollback", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
  });
}
