import { fileURLToPath } from "node:url";
import { runBounded, type BoundedRun } from "@cutover/testkit";

/** The built CLI, as a user runs it. */
export const CLI = fileURLToPath(new URL("../packages/cli/dist/cli.js", import.meta.url));
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

export type Spawned = BoundedRun;

/**
 * Runs `cutover ARGS` as a child process and collects its output, bounded by a timeout: at the limit the
 * CLI and everything it started are killed (runBounded), and the output so far is returned.
 */
export function cutover(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Spawned> {
  return runBounded(process.execPath, [CLI, ...args], {
    timeoutMs: options.timeoutMs ?? 60_000,
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: "1", ...options.env },
  });
}

/** The run's output, for a failure message. */
export function transcript(r: Spawned): string {
  return `${r.timedOut ? "TIMED OUT\n" : ""}exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
