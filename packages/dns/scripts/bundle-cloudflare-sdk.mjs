// Replaces dist/providers/_cloudflare-sdk.js (tsc's re-exports of the `cloudflare` SDK) with one ESM bundle
// of just what it re-exports: esbuild follows the SDK's ES modules and drops the resources no one uses.
// Without this step the provider still works, only its first use loads the whole SDK (~1.1 s).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const file = fileURLToPath(new URL("../dist/providers/_cloudflare-sdk.js", import.meta.url));
await build({
  entryPoints: [file],
  outfile: file,
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  legalComments: "none",
  logLevel: "warning",
});
