/**
 * The parts of the official `cloudflare` SDK the provider uses, through the SDK's tree-shakable client
 * (`cloudflare/tree-shakable`). The SDK's own entry points load all of its ~1900 files whichever resources
 * a client uses (~1.1 s on every start); the package build bundles this file in dist/ with esbuild
 * (scripts/bundle-cloudflare-sdk.mjs), which keeps only these resources: ~75 KB, loaded in ~50 ms.
 */
export { createClient } from "cloudflare/tree-shakable";
export { APIError } from "cloudflare/error";
export { BaseZones } from "cloudflare/resources/zones/zones";
export { BaseRecords } from "cloudflare/resources/dns/records";
