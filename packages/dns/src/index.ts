export { applyChangeSet, finishPendingWrites, type ApplyReport } from "./apply.js";
export { DnsError, redact } from "./errors.js";
export { writeFileAtomic } from "./fs-atomic.js";
export type {
  ApplyOptions,
  DnsProvider,
  ProviderConfig,
  ProviderDefinition,
  ProviderFactory,
  ProviderTraits,
  ProviderTuning,
} from "./providers/types.js";
export { defineProvider, tokenFrom } from "./providers/define.js";
export { loadProvider, providerDefinition, providerRegistry, providers, type ProviderName } from "./providers/index.js";
// Cloudflare and Linode speak plain HTTP through the kit (no SDK); the Worker reaches them through the subpath
// exports `@cutover/dns/cloudflare` and `@cutover/dns/linode`. Route 53 loads its SDK when a provider is created.
export { CLOUDFLARE_API_URL, CLOUDFLARE_AUTO_TTL, createCloudflareProvider } from "./providers/cloudflare.js";
export { createLinodeProvider, LINODE_API_URL } from "./providers/linode.js";
export { createPowerDnsProvider } from "./providers/powerdns.js";
export {
  createRoute53Provider,
  ROUTE53_MAX_RECORDS_PER_REQUEST,
  ROUTE53_MAX_VALUE_CHARS_PER_REQUEST,
} from "./providers/route53.js";
export { createHetznerProvider, HETZNER_API_URL } from "./providers/hetzner.js";
export { createDigitalOceanProvider, DIGITALOCEAN_API_URL } from "./providers/digitalocean.js";
export { createRfc2136Provider, parseServer } from "./providers/rfc2136.js";
export { createZonefileProvider } from "./providers/zonefile.js";
export { editZoneFile, nextSerial, quoteTxt, zoneNameFromPath, type ZoneEdit } from "./zonefile/edit.js";
export { MAX_ZONE_FILE_BYTES, readZoneText } from "./zonefile/read.js";
export {
  parseTtlText,
  parseZoneFile,
  ZoneFileError,
  type ZoneEntry,
  type ZoneFile,
  type ZoneToken,
} from "./zonefile/parse.js";
export {
  classifyAnswer,
  familyType,
  followChain,
  negativeTtlOf,
  typesFor,
  valuesFor,
  type AnswerStatus,
  type Expectation,
  type Observation,
} from "./propagation/classify.js";
export {
  CHECKED_TYPES,
  canonicalData,
  checkExpectedValue,
  isCheckedType,
  relevantTxt,
  sameData,
  type CheckedType,
} from "./propagation/expect.js";
export {
  decodeResponse,
  encodeQuery,
  queryDns,
  recordData,
  type QueryErrorKind,
  type QueryOptions,
  type QueryResult,
  type RecordView,
} from "./propagation/query.js";
export {
  DEFAULT_RESOLVERS,
  parseResolverLabel,
  parseResolverList,
  resolverWhere,
  type ResolverLabel,
  type ResolverListItem,
  type ResolverSpec,
} from "./propagation/servers.js";
export { answerQuery, type AnswerOptions } from "./serve/answer.js";
export { startAuthoritativeServer, type AuthoritativeServer, type AuthoritativeServerOptions } from "./serve/server.js";
export { buildZone, loadZone, originOf, type ServedZone } from "./serve/zone.js";
export {
  checkAuthoritative,
  findApex,
  systemResolver,
  type AuthoritativeCheck,
  type AuthoritativeOptions,
  type AuthoritativeServerResult,
  type ZoneAuthoritativeCheck,
} from "./propagation/authoritative.js";
export { readServed, servedRrsets, waitServed, type ServedOptions, type ServedReport } from "./propagation/served.js";
export {
  createPropagationWatch,
  summarizeObservations,
  type GroupShare,
  type PropagationEstimate,
  type PropagationHistoryPoint,
  type PropagationReport,
  type PropagationRound,
  type PropagationWatch,
  type PropagationWatchOptions,
  type PropagationCheckSet,
  type TargetRound,
} from "./propagation/watch.js";
export {
  locationGroups,
  renderPropagationHtml,
  renderShareChart,
  type ReportAtlasSection,
} from "./propagation/html.js";
export {
  classifyAtlasResults,
  createAtlasClient,
  encodeAbuf,
  summarizeAtlas,
  type AtlasClient,
  type AtlasCountrySummary,
  type AtlasDnsRequest,
  type AtlasDnsResult,
  type AtlasOptions,
  type AtlasProbeAnswer,
} from "./propagation/atlas.js";
