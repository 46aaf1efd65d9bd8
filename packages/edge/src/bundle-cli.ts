// The build step of @cutover/edge: bundles the Worker into dist/worker.js (run after tsc).
import { writeFile } from "node:fs/promises";
import { bundleWorker, workerBundlePath } from "./bundle.js";

const result = await bundleWorker({ minify: true });
await writeFile(workerBundlePath(), result.code);
for (const w of result.warnings) process.stderr.write(`esbuild: ${w}\n`);
process.stdout.write(
  `${workerBundlePath()}: ${(result.bytes / 1024).toFixed(0)} KiB; node built-ins (nodejs_compat): ${result.nodeImports.join(", ") || "none"}\n`,
);
