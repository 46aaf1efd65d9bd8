import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";
import { defineDnsStep } from "./_verb.js";

export function makeDnsRestoreCommand(deps: Deps) {
  return defineDnsStep(
    {
      name: "restore",
      description:
        "Give the moved records their original TTLs back (they keep the new address); SPF drops the old address",
      examples: [["cutover dns restore --originals originals.json --dry-run"], ["cutover dns restore --ttl 86400"]],
    },
    (c) =>
      c
        .option("--originals <file>", "the original records (JSON list, from --save-originals or the journal)")
        .option("--ttl <seconds>", "without --originals: the TTL to restore on every moved record"),
  ).action(async (file, opts) => {
    await runDnsStep("restore", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
  });
}
