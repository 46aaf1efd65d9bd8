import { spawn, type ChildProcess } from "node:child_process";

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Waits (bounded) until the output contains `text`; fails with the output so far. The output reaches us
   * through a pipe, so a line can arrive after the effect a test already saw (an admin socket, a port). */
  waitForOutput: (text: string, timeoutMs?: number) => Promise<void>;
  /** Stops the process by its PID (SIGTERM, SIGKILL 3 s later) and waits for it to exit. */
  stop: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a long-running program of a test, collecting its stdout and stderr as one text. */
export function startProcess(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    output: () => out,
    waitForOutput: async (text, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (Date.now() > until) throw new Error(`${cmd} did not print ${JSON.stringify(text)}; it printed:\n${out}`);
        await sleep(25);
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, "SIGTERM");
        const t = setTimeout(
          () => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"),
          3000,
        );
        await exited;
        clearTimeout(t);
      }
    },
  };
}
