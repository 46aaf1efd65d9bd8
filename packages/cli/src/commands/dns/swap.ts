import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";
import { defineDnsStep } from "./_verb.js";

export function makeDnsSwapCommand(deps: Deps) {
  return defineDnsStep(
    {
      name: "swap",
      description:
        "Point every A/AAAA record on the old host at the new one now (SPF gains the new address; reverse DNS when new.rdns is set)",
      examples: [
        ["cutover dns swap --dry-run"],
        ["cutover dns swap --plan cutover.yaml"],
        ["cutover dns swap --force --json"],
      ],
    },
    (c) =>
      c.option(
        "--save-originals <file>",
        "write the records as they are before the change (JSON, mode 0600) for a later restore or rollback",
      ),
  ).action(async (file, opts) => {
    await runDnsStep("swap", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
  });
}
