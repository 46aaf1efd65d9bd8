import {
  providerDefinition,
  providerRegistry,
  type DnsProvider,
  type ProviderConfig,
  type ProviderFactory,
} from "@cutover/dns";
import { UserError } from "../errors.js";
import type { LoadedPlan } from "./load.js";

/** Builds the DNS provider a plan names, from the registry, with credentials from the environment. */
export async function createProviderForPlan(
  loaded: LoadedPlan,
  env: Record<string, string | undefined>,
  extra: { sleep?: ProviderConfig["sleep"] } = {},
): Promise<DnsProvider> {
  const { dns } = loaded.plan;
  const definition = providerDefinition(dns.provider);
  if (!definition) {
    throw new UserError(
      `dns.provider "${dns.provider}" is not available in this build (available: ${providerRegistry.map((d) => d.name).join(", ")})`,
    );
  }
  // The plan's schema for this provider is the definition's own (schema.ts), so its options fit its factory.
  const create = definition.create as ProviderFactory;
  const {
    provider,
    zones,
    apiUrl,
    batchSize,
    records,
    lowTtl: _lowTtl,
    maxChanges: _max,
    requestTimeout,
    ...rest
  } = dns;
  // Every provider takes its per-request timeout as options.timeoutMs.
  const options = requestTimeout === undefined ? rest : { ...rest, timeoutMs: requestTimeout };
  return create({
    provider,
    zones,
    ...(apiUrl === undefined ? {} : { apiUrl }),
    batchSize,
    // Explicit names let rfc2136 read by direct queries when the server refuses zone transfers.
    options: records === "auto" ? options : { ...options, names: records },
    baseDir: loaded.dir,
    env,
    ...(extra.sleep ? { sleep: extra.sleep } : {}),
  });
}
