import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { UserError } from "../errors.js";
import { parsePlan, type ParsedPlan } from "./parse.js";

export interface LoadedPlan extends ParsedPlan {
  /** Absolute path of the plan file. */
  path: string;
  /** Directory that relative paths in the plan resolve against. */
  dir: string;
  text: string;
}

/**
 * Reads and validates a plan file; a missing file or a bad plan is a UserError. `allowPastSwap` is for a
 * run already under way, whose swap time may have passed.
 */
export async function loadPlan(
  file: string | undefined,
  options: { cwd: string; now: Date; allowPastSwap?: boolean },
): Promise<LoadedPlan> {
  const given = file ?? "cutover.yaml";
  const path = isAbsolute(given) ? given : resolve(options.cwd, given);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(
      code === "ENOENT"
        ? `no plan file at ${given}; give its path, or run \`cutover init\` to write one`
        : `cannot read ${given}: ${(error as Error).message}`,
      { code: "E_PLAN_READ" },
    );
  }
  const shown = relative(options.cwd, path) || given;
  const parsed = parsePlan(text, {
    file: shown.startsWith("..") ? path : shown,
    now: options.now,
    allowPastSwap: options.allowPastSwap === true,
  });
  return { ...parsed, path, dir: dirname(path), text };
}
