import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { UserError } from "../errors.js";
import { parsePlan, type ParsedPlan } from "./parse.js";
import { fileKind } from "@cutover/core";
import { PLAN_LIMITS, PlanError } from "@cutover/core/plan";

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
    text = await readPlanText(path, given);
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(
      code === "ENOENT"
        ? `no plan file at ${given}; give its path, or run \`cutover init\` to write one`
        : `cannot read ${given}: ${(error as Error).message}`,
      { code: "E_PLAN_READ" },
    );
  }
  const shown = relative(options.cwd, path) || given;
  let parsed: ParsedPlan;
  try {
    parsed = parsePlan(text, {
      file: shown.startsWith("..") ? path : shown,
      now: options.now,
      allowPastSwap: options.allowPastSwap === true,
      baseDir: dirname(path),
    });
  } catch (error) {
    // The CLI's user error, with every problem as a line under the message.
    if (error instanceof PlanError)
      throw new UserError(error.message, { code: error.code, details: error.details, cause: error });
    throw error;
  }
  return { ...parsed, path, dir: dirname(path), text };
}

/**
 * The plan's text, refused before it is read when it is not a regular file (a device or FIFO would be read
 * for ever) or is over PLAN_LIMITS.bytes. Checked on the opened file, so it cannot change in between.
 */
async function readPlanText(path: string, given: string): Promise<string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UserError(`${given} is ${fileKind(st)}, not a plan file`, { code: "E_PLAN_READ" });
    if (st.size > PLAN_LIMITS.bytes)
      throw new UserError(
        `${given} is ${(st.size / 1048576).toFixed(1)} MiB; a plan file is at most ${PLAN_LIMITS.bytes / 1048576} MiB`,
        { code: "E_PLAN_READ" },
      );
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}
