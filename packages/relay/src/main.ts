/**
 * The relay as a program: `node main.js CONFIG.json`. This is the file bundled (esbuild) into one
 * dependency-free script for the old host. SIGTERM or SIGINT drains (stop accepting, let open
 * connections finish up to drain.deadlineMs); a second signal stops at once.
 */
import cluster from "node:cluster";
import { readFile } from "node:fs/promises";
import { parseRelayConfig } from "./config.js";
import { startRelay } from "./relay.js";

const SEMI_SPACE = "--max-semi-space-size=1";

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} relay[${process.pid}] ${line}\n`);
}

async function run(argv: readonly string[]): Promise<number> {
  const file = argv[0];
  if (file === undefined || file === "--help" || file === "-h") {
    process.stderr.write(
      "usage: cutover-relay CONFIG.json\n  runs the relay described by the JSON file (RelayConfig)\n",
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
  const workers = config.workers ?? 1;
  if (workers > 1 && cluster.isPrimary) return runPrimary(workers);
  const relay = await startRelay(config, { log });
  let signals = 0;
  const onSignal = (sig: string) => {
    signals++;
    if (signals === 1) {
      log(`${sig}: draining (a second signal stops at once)`);
      void relay.drain();
    } else {
      log(`${sig}: stopping now`);
      void relay.stop();
    }
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  void relay.handover.then((h) => {
    if (h?.state === "failed") log(`handover failed: ${h.error}`);
  });
  await relay.stopped;
  cluster.worker?.disconnect(); // a worker's IPC channel would keep it alive
  return 0;
}

/** With `workers` > 1: fork that many relays sharing the listening sockets; signals go to each. */
async function runPrimary(workers: number): Promise<number> {
  cluster.schedulingPolicy = cluster.SCHED_NONE; // each worker accepts on the shared socket itself
  // A small young generation: each idle connection's share of the heap (and of RSS) stays small; the
  // benchmark shows no throughput cost. A flag the admin gave node explicitly wins (it comes later).
  cluster.setupPrimary({ execArgv: [SEMI_SPACE, ...process.execArgv] });
  const children = Array.from({ length: workers }, () => cluster.fork());
  const forward = (sig: NodeJS.Signals) => {
    log(`${sig}: passing it to ${workers} workers`);
    for (const c of children) if (!c.isDead()) c.process.kill(sig);
  };
  process.on("SIGTERM", () => forward("SIGTERM"));
  process.on("SIGINT", () => forward("SIGINT"));
  const codes = await Promise.all(
    children.map((c) => new Promise<number>((r) => c.once("exit", (code) => r(code ?? 1)))),
  );
  return Math.max(0, ...codes);
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
