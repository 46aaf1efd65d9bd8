import type { Command, OptionValues } from "@commander-js/extra-typings";
import type { Deps } from "../context.js";
import { UsageError } from "../errors.js";

/** `--now ISO` for planning ahead; defaults to the clock. The time needs an offset, like the plan's. */
export function parseNowOption(value: string | undefined, deps: Deps): Date {
  if (value === undefined) return deps.now();
  const ms = /(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim()) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`--now ${value}: give a date-time with an offset, e.g. 2026-11-29T10:00:00Z`);
  return new Date(ms);
}

/** The options of the commands that start or continue a run (run, tick, schedule): `--accept-risk`, `--force`. */
export function withRunOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
) {
  return command
    .option("--accept-risk", "start even though the TTL drop cannot reach every cache before the swap")
    .option(
      "--force",
      "start even though a step changes more records than the plan's limits (dns.maxChanges, 30 % of a zone)",
    );
}

/** The options of the runners that show a timeline and tell a webhook (run, tick): `--tz`, `--notify`. */
export function withRunnerOutput<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
) {
  return command
    .option("--tz <zone>", "show times in this IANA zone, e.g. Europe/Berlin (default: the plan's timezone, else UTC)")
    .option(
      "--notify <url>",
      "also POST every step's start, end and failure to this webhook (see docs/notifications.md)",
    );
}

/** The plan file, given as FILE or as --plan FILE (every command that reads a plan takes both); both must agree. */
export function planFileOf(file: string | undefined, plan: string | undefined): string {
  if (file !== undefined && plan !== undefined && file !== plan)
    throw new UsageError(`the plan file is given twice (${file} and --plan ${plan}); give it once`);
  return plan ?? file ?? "cutover.yaml";
}

/** As `planFileOf`, for a command that also works without a plan (`relay start --forward ...`): none given, none. */
export function optionalPlanFileOf(file: string | undefined, plan: string | undefined): string | undefined {
  return file === undefined && plan === undefined ? undefined : planFileOf(file, plan);
}
