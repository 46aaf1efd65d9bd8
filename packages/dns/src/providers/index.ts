import { cloudflareProvider } from "./cloudflare.js";
import { digitalOceanProvider } from "./digitalocean.js";
import { hetznerProvider } from "./hetzner.js";
import { linodeProvider } from "./linode.js";
import { powerDnsProvider } from "./powerdns.js";
import { rfc2136Provider } from "./rfc2136.js";
import { route53Provider } from "./route53.js";
import type { ProviderDefinition, ProviderFactory } from "./types.js";
import { zonefileProvider } from "./zonefile.js";

/**
 * Every provider, by the name a plan uses in `dns.provider`, in the order users are offered them: one line
 * each, the rest is declared in the provider's own file (its plan options, token variables, traits, `init`
 * lines, factory). The plan schema, `cutover init`, `cutover dns providers`, the runners' credentials and
 * the edge's secret bindings all read it. No provider file loads an SDK at its top (Route 53 imports the
 * AWS SDK when a provider is created), so listing them costs nothing (test/cli/start.test.ts checks what
 * `--version` and `plan` load).
 */
export const providerRegistry = [
  zonefileProvider,
  cloudflareProvider,
  linodeProvider,
  rfc2136Provider,
  powerDnsProvider,
  route53Provider,
  digitalOceanProvider,
  hetznerProvider,
] as const;

export type ProviderName = (typeof providerRegistry)[number]["name"];

/** The definition of the provider a plan names, or undefined for a name no provider has. */
export function providerDefinition(name: string): ProviderDefinition | undefined {
  return (providerRegistry as unknown as readonly ProviderDefinition[]).find((d) => d.name === name);
}

/** Every provider's factory by name (kept for callers of the earlier map of loaders). */
export const providers: Record<string, () => Promise<ProviderFactory>> = /* @__PURE__ */ Object.fromEntries(
  providerRegistry.map((d) => [d.name, async () => d.create as ProviderFactory]),
);

/** The factory of the provider a plan names, or undefined for a name no provider has. */
export async function loadProvider(name: string): Promise<ProviderFactory | undefined> {
  return providerDefinition(name)?.create as ProviderFactory | undefined;
}
