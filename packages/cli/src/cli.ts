#!/usr/bin/env node
import { handleError, installErrorBoundary } from "./handle-error.js";
import { defaultDeps, main } from "./main.js";

const deps = defaultDeps();
installErrorBoundary(deps);
// `cutover ... | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    process.exit(handleError(error, deps));
  });
}

process.exitCode = await main(process.argv.slice(2), deps);
