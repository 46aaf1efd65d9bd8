import type { Deps } from "../context.js";
import { UserError } from "../errors.js";

/** `--now ISO` for planning ahead; defaults to the clock. The time needs an offset, like the plan's. */
export function parseNowOption(value: string | undefined, deps: Deps): Date {
  if (value === undefined) return deps.now();
  const ms = /(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim()) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UserError(`--now ${value}: give a date-time with an offset, e.g. 2026-11-29T10:00:00Z`);
  return new Date(ms);
}
