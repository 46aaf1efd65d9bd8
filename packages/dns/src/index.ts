export { canonicalIp, sameIp } from "./address.js";
export { applyChangeSet, classifyChange, findRecord, type ApplyReport } from "./apply.js";
export {
  discoverTargets,
  movingTtl,
  planLower,
  planRestore,
  planRollback,
  planSwap,
  type Discovery,
  type MoveAddresses,
} from "./changes.js";
export { DnsError, redact } from "./errors.js";
export { writeFileAtomic } from "./fs-atomic.js";
export type {
  ApplyOptions,
  ChangeOutcome,
  ChangeSet,
  ChangeStep,
  DnsProvider,
  ProviderCapabilities,
  ProviderConfig,
  ProviderFactory,
  RecordChange,
} from "./providers/types.js";
export { providers } from "./providers/index.js";
export { createZonefileProvider } from "./providers/zonefile.js";
export { absoluteName, normalizeName, recordKey, type DnsRecord, type Zone } from "./records.js";
export { snapTtl, type SnappedTtl } from "./ttl.js";
export { editZoneFile, nextSerial, quoteTxt, zoneNameFromPath, type ZoneEdit } from "./zonefile/edit.js";
export {
  parseTtlText,
  parseZoneFile,
  ZoneFileError,
  type ZoneEntry,
  type ZoneFile,
  type ZoneToken,
} from "./zonefile/parse.js";
