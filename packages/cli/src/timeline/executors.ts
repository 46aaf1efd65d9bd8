import { preflightStep } from "./preflight.js";
import type { StepExecutors } from "./run.js";
import { watchStep } from "./watch.js";

/**
 * The executors `run` and `tick` use for the steps that are not DNS changes. Preflight checks the new
 * host for real; handover, watch and drain talk to the relay and the propagation watcher.
 */
export function defaultExecutors(): StepExecutors {
  return {
    preflight: async (rt) => preflightStep(rt),
    watch: watchStep,
  };
}
