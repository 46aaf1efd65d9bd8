import type { Deps } from "./context.js";
import { UserError, isUserFacing } from "./errors.js";
import { createReporter } from "./output/reporter.js";

/**
 * The one error handler: a user's mistake prints clear lines and exits 1 (or its own code) without a
 * stack; anything else is a bug and prints its stack with a request to report it.
 */
export function handleError(error: unknown, deps: Deps): number {
  const out = createReporter(deps, { json: false, env: deps.env });
  if (error instanceof UserError) {
    out.error(error.message);
    for (const line of error.details) deps.stderr.write(`  ${line}\n`);
    return error.exitCode;
  }
  if (isUserFacing(error)) {
    out.error(error.message);
    const hint = (error as { hint?: unknown }).hint;
    if (typeof hint === "string") deps.stderr.write(`  ${hint}\n`);
    return 1;
  }
  const stack = error instanceof Error ? (error.stack ?? String(error)) : String(error);
  out.error(`unexpected failure, this is a bug in cutover; please report it with this output:`);
  deps.stderr.write(`${stack}\n`);
  return 70;
}
