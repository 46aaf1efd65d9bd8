import type { LoadedPlan } from "../plan/load.js";
import { createProviderForPlan } from "../plan/provider.js";
import type { DnsRecord } from "@cutover/core";
import type { ProviderCapabilities } from "@cutover/core";

/** Reads every record of the plan's zones from its provider. */
export async function readPlanRecords(
  loaded: LoadedPlan,
  env: Record<string, string | undefined>,
): Promise<{ records: DnsRecord[]; capabilities: ProviderCapabilities; providerName: string }> {
  const provider = await createProviderForPlan(loaded, env);
  try {
    const records: DnsRecord[] = [];
    for (const zone of loaded.plan.dns.zones) records.push(...(await provider.listRecords(zone)));
    return { records, capabilities: provider.capabilities, providerName: provider.name };
  } finally {
    await provider.close?.();
  }
}
