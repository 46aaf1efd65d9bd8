import type { Reporter, Streams } from "./output/reporter.js";
import type { StepExecutors } from "./timeline/run.js";
import type { DeliverOptions } from "./notify/deliver.js";

/** What a command needs from the outside world; injected so tests run in-process. */
export interface Deps extends Streams {
  env: Record<string, string | undefined>;
  cwd: string;
  /** The clock. Tests inject a fixed or fast-forwarded one. */
  now: () => Date;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** In-process callers (tests, the demo) may swap the step executors and stand in for Ctrl-C. */
  hooks?: {
    executors?: StepExecutors;
    signal?: AbortSignal;
    /** Notification delivery: shorter backoff in tests. */
    notify?: DeliverOptions;
    undoHandover?: (ctx: { planFile: string; dryRun: boolean; say: (t: string) => void }) => Promise<void>;
  };
}

export interface CommandContext {
  deps: Deps;
  out: Reporter;
}
