import { join } from "node:path";
import { preflightStep } from "./preflight.js";
import { drainStep, handoverStep, localRelayDriver, remoteRelayDriver, type RelayDriver } from "./relay.js";
import type { StepExecutors, StepRuntime } from "./run.js";
import { warmSyncStep } from "./sync.js";
import { watchStep } from "./watch.js";

/**
 * The executors `run` and `tick` use for the steps that are not DNS changes: preflight checks the new
 * host for real, watch follows propagation, handover and drain talk to the relay: on the old host over
 * SSH when the plan has old.ssh (deployed and armed by `cutover relay deploy`), else on this machine.
 */
export function defaultExecutors(env: Record<string, string | undefined> = process.env): StepExecutors {
  const pre = (rt: StepRuntime) => preflightStep(rt, env);
  const driver = (rt: StepRuntime): RelayDriver =>
    rt.loaded.plan.old.ssh
      ? remoteRelayDriver(rt, env)
      : localRelayDriver(rt.stateDir ?? join(rt.loaded.dir, ".cutover", rt.state.name));
  return {
    preflight: pre,
    handover: async (rt) => handoverStep(rt, driver(rt)),
    watch: watchStep,
    drain: async (rt) => drainStep(rt, driver(rt)),
    sync: async (rt) => warmSyncStep(rt, env),
  };
}
