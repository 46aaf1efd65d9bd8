// `@cutover/core/journal`: a run's journal as data (its events, the state they add up to, the fold of one into
// the other, the shapes read back) and what each kind of step journals as its result. A subpath of its own:
// its shapes stand on zod, which the Worker does not carry.
export {
  applyEvent,
  replayEvents,
  type JournalEvent,
  type RollbackOutcome,
  type RunEvent,
  type RunState,
  type StepEvent,
  type StepState,
} from "./events.js";
export {
  resultOf,
  type DnsRecordRow,
  type DnsStepResult,
  type HandoverResult,
  type JournaledResults,
  type Lane,
  type PreflightCheck,
  type PreflightResult,
  type RelaySummary,
  type SkippedResult,
  type StepOutcome,
  type StepResults,
  type WarmSyncResult,
  type WatchResult,
} from "./results.js";
export { eventSchema, planInfoSchema, recordSchema, runStateSchema, stepStateSchema } from "./schema.js";
