export { canonicalIp, sameIp } from "./address.js";
export {
  type ChangeOutcome,
  type ChangeSet,
  type ChangeStep,
  type ProviderCapabilities,
  type RecordChange,
} from "./changes.js";
export { CutoverError, isCutoverError } from "./errors.js";
export { formatDuration, parseDuration } from "./duration.js";
export { fileKind } from "./files.js";
export type { HandoverStatus, HoldStatus, SyncReport, SyncStepReport } from "./handover.js";
export {
  afterFailure,
  isFinished,
  nextAction,
  REQUIRES,
  RETRY,
  retryDelayMs,
  retryWindowEnd,
  type AfterFailure,
  type NextAction,
  type PolicyStep,
  type PolicyTimeline,
  type RetryPolicy,
  type StepProgress,
  type StepStatus,
  type Wait,
} from "./policy.js";
export {
  changesOf,
  relativeLabel,
  STEP_KINDS,
  type DnsStep,
  type DnsStepKind,
  type DrainStep,
  type HandoverStep,
  type HostStep,
  type HostStepKind,
  type PreflightStep,
  type StepHold,
  type StepKind,
  type SwapStep,
  type SyncStep,
  type TimelineStep,
  type TtlStep,
  type WatchStep,
} from "./timeline.js";
export { absoluteName, normalizeName, recordKey, type DnsRecord, type Zone } from "./records.js";
export { parseServerSpec, type ServerSpec } from "./servers.js";
export { formatPlanTime, formatUtc, needSeconds } from "./time.js";
export { count } from "./words.js";
export {
  checkChangeLimits,
  discoverTargets,
  movingTtl,
  planLower,
  planRestore,
  planRollback,
  planSwap,
  siblingsOf,
  spfWithNew,
  spfWithoutOld,
  type ChangeLimits,
  type ChangeOptions,
  type Discovery,
  type MoveAddresses,
} from "./move/changes.js";
export { classifyChange, findRecord } from "./move/match.js";
export { planMove, reconstructOriginals, recordChanges, type Move, type MoveOptions } from "./move/move.js";
export { snapTtl, type SnappedTtl } from "./move/ttl.js";
export { ceilMinute, planTimeline, type PlanTimelineOptions, type Timeline, type TimelineResult } from "./planner.js";
