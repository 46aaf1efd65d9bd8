#!/usr/bin/env node
// The `cutover` bin. Committed (not built) so that npm links it at `npm ci` time on a fresh clone: npm links
// a bin only when its file exists at install, and dist/ is built after. It only starts the built CLI.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    `error: cutover is not built yet (${fileURLToPath(entry)} is missing)\n` +
      `  run \`npm run build\` at the repository's root, then try again\n`,
  );
  process.exit(2);
}
await import(entry.href);
