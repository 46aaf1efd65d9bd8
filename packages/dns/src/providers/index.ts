import type { ProviderFactory } from "./types.js";

/**
 * Every provider by the name a plan uses in `dns.provider`: a plain map of loaders, one line each. A
 * provider's file (and its SDK, `@aws-sdk/...` for Route 53) is imported only when a plan names it, so a
 * command that needs no provider does not pay for any (importing the `cloudflare` SDK alone took ~1.1 s,
 * before Cloudflare and Linode moved to plain HTTP). A provider file that imports an SDK at its top stays
 * out of src/index.ts (test/cli/start.test.ts checks what `--version` and `plan` load).
 */
export const providers: Record<string, () => Promise<ProviderFactory>> = {
  cloudflare: async () => (await import("./cloudflare.js")).createCloudflareProvider,
  digitalocean: async () => (await import("./digitalocean.js")).createDigitalOceanProvider,
  hetzner: async () => (await import("./hetzner.js")).createHetznerProvider,
  linode: async () => (await import("./linode.js")).createLinodeProvider,
  powerdns: async () => (await import("./powerdns.js")).createPowerDnsProvider,
  rfc2136: async () => (await import("./rfc2136.js")).createRfc2136Provider,
  route53: async () => (await import("./route53.js")).createRoute53Provider,
  zonefile: async () => (await import("./zonefile.js")).createZonefileProvider,
};

/** The factory of the provider a plan names, or undefined for a name no provider has. */
export async function loadProvider(name: string): Promise<ProviderFactory | undefined> {
  return Object.hasOwn(providers, name) ? providers[name]!() : undefined;
}
