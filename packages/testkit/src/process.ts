import { spawn } from "node:child_process";

export interface BoundedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The run passed its time limit and was killed (with everything it started). */
  timedOut: boolean;
}

/**
 * Runs a program in a process group of its own and collects its output, bounded by a time limit. At the
 * limit the whole group is killed (SIGTERM, then SIGKILL `graceMs` later; at once with `graceMs` 0):
 * helpers the program started (Chromium's renderers, the demo's services) hold its output pipes, so
 * killing the program alone, as execFile's timeout does, can leave the caller waiting for ever.
 */
export function runBounded(
  command: string,
  args: string[],
  options: { timeoutMs: number; graceMs?: number; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<BoundedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
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
    let giveUp: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      const grace = options.graceMs ?? 5000;
      if (grace > 0) killGroup("SIGTERM");
      hardKill = setTimeout(() => {
        killGroup("SIGKILL");
        // Pipes still held open by something outside the group: stop waiting for them.
        giveUp = setTimeout(() => finish(child.exitCode), 1000);
      }, grace);
    }, options.timeoutMs);
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(hardKill);
      clearTimeout(giveUp);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, stdout, stderr, timedOut });
    };
    child.on("error", reject);
    child.on("close", (code) => finish(code));
  });
}
