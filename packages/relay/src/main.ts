/**
 * The relay as a program: `node main.js CONFIG.json`. This is the file bundled (esbuild) into one
 * dependency-free script for the old host. SIGTERM or SIGINT drains (stop accepting, let open
 * connections finish up to drain.deadlineMs); a second signal stops at once. `--supervise` runs it under
 * the respawn wrapper (supervise.ts).
 */
import { readFile } from "node:fs/promises";
import { parseRelayConfig } from "./config.js";
import { startRelay, type RelayHandle } from "./relay.js";
import { restartsFromEnv, supervise, SUPERVISE_FLAG } from "./supervise.js";
import { forkHelpers, hasSharedListeners, HELPER_FLAG, runHelper } from "./workers.js";

const SEMI_SPACE = "--max-semi-space-size=1";

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} relay[${process.pid}] ${line}\n`);
}

async function run(args: readonly string[]): Promise<number> {
  const supervised = args[0] === SUPERVISE_FLAG;
  const argv = supervised ? args.slice(1) : args;
  const file = argv[0];
  if (file === undefined || file === "--help" || file === "-h") {
    process.stderr.write(
      "usage: cutover-relay [--supervise] CONFIG.json\n  runs the relay described by the JSON file (RelayConfig);\n  --supervise: restart it at once whenever it dies (for hosts without systemd)\n",
    );
    return file === undefined ? 2 : 0;
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    log(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return 2;
  }
  let config;
  try {
    config = parseRelayConfig(JSON.parse(text));
  } catch (error) {
    log(error instanceof SyntaxError ? `${file} is not JSON: ${error.message}` : (error as Error).message);
    return 2;
  }
  if (argv.includes(HELPER_FLAG)) return runHelper(config, log);
  if (supervised) return supervise(process.argv[1]!, file, process.execArgv, log);
  const workers = config.workers ?? 1;
  if (workers > 1 && !hasSharedListeners(config))
    log(`workers: ${workers} has nothing to spread (UDP listeners and SSH upstreams stay in one process)`);
  // A small young generation for helpers: each idle connection's share of the heap (and of RSS) stays
  // small; the benchmark shows no throughput cost. A flag the admin gave node explicitly wins (it comes later).
  const helpers =
    workers > 1 && hasSharedListeners(config)
      ? forkHelpers(workers - 1, process.argv[1]!, file, [SEMI_SPACE, ...process.execArgv], log)
      : undefined;
  const restarts = restartsFromEnv();
  // The signal handlers come first: a SIGTERM while the relay is still starting (binding, installing a
  // redirect due now) must not kill it by default and leave its rules behind; it is acted on once started.
  let relay: RelayHandle | undefined;
  let signals = 0;
  const act = () => {
    if (relay === undefined) return;
    if (signals === 1) void relay.drain();
    else void relay.stop();
  };
  const onSignal = (sig: string) => {
    signals++;
    if (relay === undefined) log(`${sig}: still starting; ${signals === 1 ? "draining" : "stopping"} once started`);
    else log(signals === 1 ? `${sig}: draining (a second signal stops at once)` : `${sig}: stopping now`);
    act();
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  relay = await startRelay(config, { log, helpers, ...(restarts ? { restarts } : {}) });
  if (signals > 0) act();
  void relay.handover.then((h) => {
    if (h?.state === "failed") log(`handover failed: ${h.error}`);
  });
  await relay.stopped;
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const e = error as { userFacing?: boolean; message?: string; hint?: string; stack?: string };
    log(e.userFacing ? `${e.message}${e.hint ? ` (${e.hint})` : ""}` : (e.stack ?? String(error)));
    process.exitCode = 1;
  },
);
