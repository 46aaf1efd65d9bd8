import type { Reporter, Streams } from "./output/reporter.js";

/** What a command needs from the outside world; injected so tests run in-process. */
export interface Deps extends Streams {
  env: Record<string, string | undefined>;
  cwd: string;
  /** The clock. Tests inject a fixed or fast-forwarded one. */
  now: () => Date;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface CommandContext {
  deps: Deps;
  out: Reporter;
}
