import { createCloudflareProvider } from "./cloudflare.js";
import { createLinodeProvider } from "./linode.js";
import type { ProviderFactory } from "./types.js";
import { createZonefileProvider } from "./zonefile.js";

/** Every provider by the name a plan uses in `dns.provider`. */
export const providers: Record<string, ProviderFactory> = {
  cloudflare: createCloudflareProvider,
  linode: createLinodeProvider,
  zonefile: createZonefileProvider,
};
