export { bundleWorker, readWorkerBundle, workerBundlePath, type BundleResult } from "./bundle.js";
export {
  DEFAULT_DOH_RESOLVERS,
  EDGE_CLASS_NAME,
  EDGE_COMPATIBILITY_DATE,
  EDGE_COMPATIBILITY_FLAGS,
  EDGE_MIGRATION_TAG,
  edgeScriptName,
  planEdgeDeployment,
  planModuleText,
  PLAN_MODULE,
  NOTIFY_SECRET_NAMES,
  secretNamesFor,
  tokenBindingFor,
  type EdgeCheckSpec,
  type EdgeNotifyData,
  type EdgeDeployment,
  type EdgePlanData,
  type EdgePlanInput,
  type EdgeStepKind,
  type EdgeStepSpec,
  type WorkerBinding,
  type WorkerMetadata,
  type WorkerModule,
} from "./edge-plan.js";
export {
  checkEdgeUpload,
  describeUploadSizes,
  WORKER_LIMITS,
  type EdgeUploadCheck,
  type EdgeUploadSizes,
} from "./limits.js";
export { EdgeError } from "./errors.js";
export type { EdgeRunState, EdgeStatusBody } from "./worker/schedule.js";
export type { EdgeNotifyEvent, EdgeNotifyStatus } from "./worker/notify.js";
export {
  buildUploadForm,
  cancelEdge,
  CLOUDFLARE_API_URL,
  createControlToken,
  deployEdge,
  describeMetadata,
  edgeStatus,
  removeEdge,
  ROLLOUT_WINDOW_MS,
  tickEdge,
  UNAUTHORIZED_RETRY_MS,
  type DeployEdgeOptions,
  type DeployEdgeResult,
  type EdgeApiOptions,
  type EdgeHandle,
} from "./deploy.js";
