export const RELAY_VERSION = "0.1.0";
export { startRelay } from "./relay.js";
export type { RelayHandle, RelayOptions, RelayHelpers, DrainResult, BoundListener } from "./relay.js";
export { forkHelpers, hasSharedListeners } from "./workers.js";
export { defaultSparePort, parseRelayConfig, resolveLimits, listenerName, describeUpstream } from "./config.js";
export type {
  RelayConfig,
  ListenerConfig,
  TcpListenerConfig,
  UnixListenerConfig,
  UdpListenerConfig,
  UpstreamConfig,
  SshConfig,
  LimitsConfig,
  DrainConfig,
  HandoverConfig,
  HoldConfig,
  SyncStep,
  SyncSsh,
  FilesSyncStep,
  MysqlDumpSyncStep,
  MysqlReplicationSyncStep,
  CommandSyncStep,
  ResolvedLimits,
} from "./config.js";
export { planSyncReport, rsyncArgv, parseRsyncStats, runSync, sshArgv, stepName } from "./sync.js";
export { RelayError } from "./errors.js";
export {
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyHeader,
  decodeProxyHeader,
  compressV6,
  expandV6,
  PROXY_V2_SIGNATURE,
} from "./proxy-protocol.js";
export type { ProxyVersion, ProxyEndpoints, DecodedProxyHeader } from "./proxy-protocol.js";
export type { RelayStatus, ListenerStats, ClientStats } from "./stats.js";
export { queryAdmin } from "./admin.js";
export type { AdminRequest } from "./admin.js";
export { planRedirect, removeRedirect, REBIND_WITHOUT_FIREWALL } from "./handover.js";
export type { RedirectRule, FirewallPlan } from "./handover.js";
export { sshFingerprint, knownHostKeys } from "./ssh.js";
export { connectOldHost, parseSshTarget, knownHostsName } from "./deploy/connect.js";
export type { OldHost, OldHostSpec, ConnectOldHostOptions, ExecOptions, ExecResult } from "./deploy/connect.js";
export { controlServices, detectServiceManager, serviceCommand } from "./deploy/services.js";
export type { ServiceManager, ServiceReport, ServicesResult } from "./deploy/services.js";
export {
  deployRelay,
  deploySocatRelay,
  planRemoteConfig,
  remoteRelayStatus,
  remoteRelayLogs,
  stopRemoteRelay,
  readDeployment,
  findRemoteNode,
  defaultRemoteDir,
  RELAY_MIN_NODE,
} from "./deploy/deploy.js";
export type {
  Deployment,
  DeployOptions,
  DeploySocatOptions,
  DeployResult,
  RemoteStatus,
  StopRemoteResult,
} from "./deploy/deploy.js";
export { buildRelayBundle, loadRelayBundle } from "./deploy/bundle.js";
export type { RelayBundle } from "./deploy/bundle.js";
export { planSocatScript } from "./deploy/socat.js";
export type { SocatScript, SocatScriptOptions } from "./deploy/socat.js";
