import { createCloudflareProvider } from "./cloudflare.js";
import { createDigitalOceanProvider } from "./digitalocean.js";
import { createHetznerProvider } from "./hetzner.js";
import { createLinodeProvider } from "./linode.js";
import { createPowerDnsProvider } from "./powerdns.js";
import { createRfc2136Provider } from "./rfc2136.js";
import { createRoute53Provider } from "./route53.js";
import type { ProviderFactory } from "./types.js";
import { createZonefileProvider } from "./zonefile.js";

/** Every provider by the name a plan uses in `dns.provider`. */
export const providers: Record<string, ProviderFactory> = {
  cloudflare: createCloudflareProvider,
  digitalocean: createDigitalOceanProvider,
  hetzner: createHetznerProvider,
  linode: createLinodeProvider,
  powerdns: createPowerDnsProvider,
  rfc2136: createRfc2136Provider,
  route53: createRoute53Provider,
  zonefile: createZonefileProvider,
};
