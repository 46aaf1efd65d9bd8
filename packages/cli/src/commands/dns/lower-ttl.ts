import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { runDnsStep } from "./_step.js";
import { defineDnsStep } from "./_verb.js";

export function makeDnsLowerTtlCommand(deps: Deps) {
  return defineDnsStep(
    {
      name: "lower-ttl",
      description:
        "Lower the TTL of every record that moves (and of SPF records naming the old host) to dns.lowTtl, now",
      examples: [
        ["cutover dns lower-ttl --dry-run"],
        ["cutover dns lower-ttl --plan cutover.yaml --save-originals originals.json"],
        ['cutover dns lower-ttl --json | jq ".outcomes[] | {name, status}"'],
      ],
    },
    (c) =>
      c.option(
        "--save-originals <file>",
        "write the records as they are before the change (JSON, mode 0600) for a later restore",
      ),
  ).action(async (file, opts) => {
    await runDnsStep("lower", { ...opts, plan: planFileOf(file, opts.plan) }, deps);
  });
}
