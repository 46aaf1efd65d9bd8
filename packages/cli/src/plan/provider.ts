import { providers, type DnsProvider } from "@cutover/dns";
import { UserError } from "../errors.js";
import type { LoadedPlan } from "./load.js";

/** Builds the DNS provider a plan names, with credentials from the environment. */
export function createProviderForPlan(loaded: LoadedPlan, env: Record<string, string | undefined>): DnsProvider {
  const { dns } = loaded.plan;
  const factory = providers[dns.provider];
  if (!factory) throw new UserError(`dns.provider "${dns.provider}" is not available in this build`);
  const { provider, zones, apiUrl, batchSize, records: _records, lowTtl: _lowTtl, maxChanges: _max, ...options } = dns;
  return factory({
    provider,
    zones,
    ...(apiUrl === undefined ? {} : { apiUrl }),
    batchSize,
    options,
    baseDir: loaded.dir,
    env,
  });
}
