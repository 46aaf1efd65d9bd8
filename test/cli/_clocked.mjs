// `node _clocked.mjs ARGS...` in a plan directory: the built CLI (its own main and error boundary) with a
// clock that sleeping moves forward at once, so a three-day timeline runs in about a second of real time
// and can be killed (SIGKILL) at any real moment. The clock is kept in ./clock, written before it moves,
// so a resumed run goes on from where the killed one was (never earlier than anything it journaled).
import { readFileSync, writeFileSync } from "node:fs";
import { handleError, installErrorBoundary } from "../../packages/cli/dist/handle-error.js";
import { defaultDeps, main } from "../../packages/cli/dist/main.js";

let t = Date.parse(process.env.CUTOVER_TEST_START ?? "");
if (Number.isNaN(t)) throw new Error("CUTOVER_TEST_START: the clock's start (ISO time) is required");
try {
  t = Math.max(t, Number(readFileSync("clock", "utf8")));
} catch {
  // the first run of this directory
}
const deps = defaultDeps();
deps.now = () => new Date(t);
deps.sleep = async (ms, signal) => {
  if (signal?.aborted) throw new Error("aborted");
  writeFileSync("clock", String(t + ms));
  t += ms;
  // Let sockets and child processes be heard between steps, as a real wait would.
  await new Promise((r) => setTimeout(r, 1));
};
installErrorBoundary(deps);
try {
  process.exitCode = await main(process.argv.slice(2), deps);
} catch (error) {
  process.exitCode = handleError(error, deps);
}
