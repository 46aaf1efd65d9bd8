// `@cutover/core/plan`: the plan file's schema and parser. A subpath of its own because it stands on zod and
// yaml, which the Worker (built on core's main entry) does not carry.
export { authoritativeOf } from "./authoritative.js";
export {
  argv,
  bindAddress,
  clip,
  duration,
  filePath,
  host,
  hostname,
  hostPort,
  httpUrl,
  ipv4,
  ipv6,
  MAX_DURATION_MS,
  port,
  server,
  serviceName,
  shellCommand,
  socketPath,
  sshTarget,
} from "./fields.js";
export {
  findDeepNesting,
  formatPath,
  parsePlan,
  PLAN_LIMITS,
  PlanError,
  type ParsedPlan,
  type ParsePlanOptions,
  type PlanProblem,
} from "./parse.js";
export type { OptionKinds, OptionsOf, OptionsShape, PlanProvider, ProviderPlanChecks } from "./provider.js";
export { REDACTED, redactPlanText, redactUrl } from "./redact.js";
export {
  createPlanSchema,
  instant,
  providersWithOption,
  timeZone,
  type AnyPlan,
  type PlanInputOf,
  type PlanOf,
  type PlanSchema,
} from "./schema.js";
