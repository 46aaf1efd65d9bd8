import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built CLI, as a user runs it. */
export const CLI = fileURLToPath(new URL("../packages/cli/dist/cli.js", import.meta.url));
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The run passed its time limit and was killed (with everything it started). */
  timedOut: boolean;
}

/**
 * Runs `cutover ARGS` as a child process and collects its output, bounded by a timeout. The child gets a
 * process group of its own: at the timeout the whole group is killed (SIGTERM, then SIGKILL 5 s later),
 * so a grandchild that holds the output pipes cannot keep the test waiting, and the output so far is
 * returned for the failure message.
 */
export function cutover(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone already
      }
    };
    let hardKill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup("SIGTERM");
      hardKill = setTimeout(() => {
        killGroup("SIGKILL");
        // Pipes still held open by something outside the group: give up on them.
        setTimeout(() => finish(child.exitCode), 1000);
      }, 5000);
    }, options.timeoutMs ?? 60_000);
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(hardKill);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, stdout, stderr, timedOut });
    };
    child.on("error", reject);
    child.on("close", (code) => finish(code));
  });
}

/** The run's output, for a failure message. */
export function transcript(r: Spawned): string {
  return `${r.timedOut ? "TIMED OUT\n" : ""}exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
