import type { Deps } from "../src/context.js";
import { main } from "../src/main.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output, a fixed clock and a given environment. */
export async function runCli(
  argv: string[],
  options: {
    cwd?: string;
    env?: Record<string, string | undefined>;
    now?: Date | (() => Date);
    tty?: boolean;
    sleep?: Deps["sleep"];
    hooks?: Deps["hooks"];
  } = {},
): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  const now = options.now;
  const deps: Deps = {
    stdout: { write: (s: string) => ((stdout += s), true), isTTY: options.tty === true, columns: 120 },
    stderr: { write: (s: string) => ((stderr += s), true), isTTY: false },
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd ?? process.cwd(),
    now: () => (typeof now === "function" ? now() : now ? new Date(now) : new Date()),
    // A fixed clock cannot wait: sleeping is instant unless the test gives its own clock and sleep.
    sleep: options.sleep ?? (now instanceof Date ? async () => {} : (ms) => new Promise((r) => setTimeout(r, ms))),
    ...(options.hooks ? { hooks: options.hooks } : {}),
  };
  const code = await main(argv, deps);
  return { code, stdout, stderr };
}
