import { join } from "node:path";
import { preflightStep } from "./preflight.js";
import { drainStep, handoverStep, localRelayDriver } from "./relay.js";
import type { StepExecutors } from "./run.js";
import { watchStep } from "./watch.js";

/**
 * The executors `run` and `tick` use for the steps that are not DNS changes: preflight checks the new
 * host for real, watch follows propagation, handover and drain talk to the relay.
 */
export function defaultExecutors(): StepExecutors {
  return {
    preflight: async (rt) => preflightStep(rt),
    handover: async (rt) =>
      handoverStep(rt, localRelayDriver(rt.stateDir ?? join(rt.loaded.dir, ".cutover", rt.state.name))),
    watch: watchStep,
    drain: async (rt) => drainStep(rt, localRelayDriver(rt.stateDir ?? join(rt.loaded.dir, ".cutover", rt.state.name))),
  };
}
