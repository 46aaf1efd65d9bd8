/**
 * The respawn wrapper for hosts without systemd: `node cutover-relay.cjs --supervise CONFIG.json` runs the
 * relay as a child and starts it again within a fraction of a second when it dies (a crash, the OOM killer,
 * a mistaken `kill -9`). A clean exit (a drain, a stop, the quiet stop: exit 0) ends the wrapper too, and so
 * does a relay that cannot start (exit 2, a bad config), which a restart would not mend. SIGTERM and SIGINT
 * are passed to the relay (it drains); the wrapper leaves when it has.
 *
 * The new relay adopts what the old one left: its listeners are bound again at once, and the redirect (or
 * the held SYNs of a rebind) still in force is taken over in one transaction (relay.ts). Every restart is
 * written to the log and reaches the relay's status through its environment (`restarts`).
 */
import { spawn, type ChildProcess } from "node:child_process";

export const SUPERVISE_FLAG = "--supervise";
/** How many restarts came before this relay process, and the last one's reason (JSON), for the status. */
export const RESTARTS_ENV = "CUTOVER_RELAY_RESTARTS";

export interface RestartRecord {
  count: number;
  last: { at: string; pid: number; reason: string; restartMs: number } | null;
}

/** Restarts the relay after this long (a short pause, so a relay that dies at once does not spin). */
const RESPAWN_MS = 100;
/** A relay that dies within this time of its start, this many times in a row, is given longer pauses. */
const FAST_DEATH_MS = 2_000;

export function restartsFromEnv(env: NodeJS.ProcessEnv = process.env): RestartRecord | undefined {
  const text = env[RESTARTS_ENV];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as RestartRecord;
  } catch {
    return undefined;
  }
}

export function supervise(
  script: string,
  configFile: string,
  execArgv: string[],
  log: (line: string) => void,
): Promise<number> {
  const record: RestartRecord = { count: 0, last: null };
  let child: ChildProcess | undefined;
  let stopping: NodeJS.Signals | undefined;
  let fastDeaths = 0;
  return new Promise((resolve) => {
    const start = () => {
      const startedAt = Date.now();
      const c = spawn(process.execPath, [...execArgv, script, configFile], {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, [RESTARTS_ENV]: JSON.stringify(record) },
      });
      child = c;
      c.once("exit", (code, signal) => {
        const diedAt = Date.now();
        if (stopping !== undefined || code === 0 || code === 2) {
          if (code !== 0) log(`supervisor: relay ${c.pid} exited (${code ?? signal}); not restarting`);
          resolve(code ?? 1);
          return;
        }
        fastDeaths = diedAt - startedAt < FAST_DEATH_MS ? fastDeaths + 1 : 0;
        // A relay that keeps dying at start: wait longer each time (up to 5 s) rather than spin.
        const pause = fastDeaths > 3 ? Math.min(5_000, RESPAWN_MS * 2 ** (fastDeaths - 3)) : RESPAWN_MS;
        const reason = signal === null ? `exit ${code}` : signal;
        setTimeout(() => {
          if (stopping !== undefined) return resolve(1);
          record.count++;
          record.last = { at: new Date().toISOString(), pid: c.pid ?? 0, reason, restartMs: Date.now() - diedAt };
          start();
          log(
            `supervisor: relay ${c.pid} died (${reason}); restarted as ${child?.pid} after ${Date.now() - diedAt} ms (restart ${record.count})`,
          );
        }, pause);
      });
    };
    for (const sig of ["SIGTERM", "SIGINT"] as const)
      process.on(sig, () => {
        stopping = sig;
        child?.kill(sig);
      });
    start();
    log(`supervisor: running the relay as ${child?.pid}; it is restarted if it dies`);
  });
}
