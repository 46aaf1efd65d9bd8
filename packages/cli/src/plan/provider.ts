import { loadProvider, providers, type DnsProvider, type ProviderConfig } from "@cutover/dns";
import { UserError } from "../errors.js";
import type { LoadedPlan } from "./load.js";

/** Builds the DNS provider a plan names, with credentials from the environment (its code is loaded now). */
export async function createProviderForPlan(
  loaded: LoadedPlan,
  env: Record<string, string | undefined>,
  extra: { sleep?: ProviderConfig["sleep"] } = {},
): Promise<DnsProvider> {
  const { dns } = loaded.plan;
  const factory = await loadProvider(dns.provider);
  if (!factory) {
    throw new UserError(
      `dns.provider "${dns.provider}" is not available in this build (available: ${Object.keys(providers).join(", ")})`,
    );
  }
  const { provider, zones, apiUrl, batchSize, records, lowTtl: _lowTtl, maxChanges: _max, ...options } = dns;
  return factory({
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
