import type { Command, OptionValues } from "@commander-js/extra-typings";
import { defineCommand, type CommandMeta, type DefinedCommand } from "../_define.js";

/** What every DNS verb that writes (lower-ttl, swap, restore, rollback) shares: its kind of plan, output, exit codes. */
const DNS_STEP = {
  needs: "plan",
  json: "print the result as JSON (every record's outcome and the original records)",
  dryRun: "show each record's change and change nothing",
  exitCodes: {
    0: "every record done, verified by reading back from the provider and served by every authoritative server",
    1:
      "some record failed, or the change is not served yet, or a mistake in the plan or options (nothing " +
      "else is touched; running the same command again finishes the job)",
  },
} as const satisfies Partial<CommandMeta>;

type DnsStepMeta = Pick<CommandMeta, "name" | "description" | "examples" | "notes"> & typeof DNS_STEP;

/** The base a DNS verb adds its own options to: the plan (FILE or --plan FILE) and `--force`. */
export type DnsStepBase = Command<
  [string | undefined],
  { plan?: string | undefined; force?: true | undefined; waitServed?: string | undefined },
  {}
>;

/** A DNS verb that changes records: `defineCommand` with the options, output and exit codes they share. */
export function defineDnsStep<C extends Command<any[], OptionValues, OptionValues>>(
  meta: Pick<CommandMeta, "name" | "description" | "examples" | "notes">,
  build: (base: DnsStepBase) => C,
): DefinedCommand<DnsStepMeta, C> {
  return defineCommand({ ...meta, ...DNS_STEP }, (c) =>
    build(
      c
        .option("--force", "apply even when the change is larger than dns.maxChanges or 30 % of a zone")
        .option(
          "--wait-served <duration>",
          "how long the zone's authoritative servers get to serve the change before exit 1 (default 20s; 0: read once; propagation.authoritative: false skips it)",
        ),
    ),
  );
}
