/**
 * `workers` > 1 (RelayConfig): the relay program runs the relay as usual in its own process (handover,
 * admin socket, drain, statistics) and forks `workers - 1` helper processes that serve connections on the
 * same listening sockets. Each time a shared listener starts listening (at start, at a rebind, at a
 * unix-socket takeover), the main process passes the socket to every helper over IPC (Node sends a
 * listening socket to a child as a net.Server, which the child adopts); the kernel gives each new
 * connection to whichever process accepts first. Helpers report their status every second; the main
 * process merges it into its own (`relay status`), counts their connections for the quiet stop, and
 * drains and stops them with itself. UDP listeners and SSH upstreams stay in the main process.
 *
 * A helper follows the main process only: it ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole
 * process group; the main process drains them all) and stops at once when the main process goes away.
 */
import { fork, type ChildProcess } from "node:child_process";
import type { Server } from "node:net";
import type { RelayConfig } from "./config.js";
import { sharedListener, startRelay, type RelayHelpers, type RelayHandle } from "./relay.js";
import type { RelayStatus } from "./stats.js";

/** The flag the main process gives its helpers on their command line. */
export const HELPER_FLAG = "--helper";

type ToHelper = { t: "listen"; index: number } | { t: "report" } | { t: "drain"; deadlineMs: number } | { t: "stop" };
type FromHelper = { t: "ready" } | { t: "status"; status: RelayStatus; lastActivity: number };

interface Helper {
  child: ChildProcess;
  /** It has said so: its message handler is in place (a message sent before would be lost). */
  ready: boolean;
  last: { status: RelayStatus; lastActivity: number } | undefined;
  exited: Promise<void>;
  /** Called at the helper's next report. */
  waiting: (() => void)[];
}

/** Whether a config has listeners for helpers to serve (else `workers` has nothing to spread). */
export function hasSharedListeners(config: RelayConfig): boolean {
  return config.listeners.some(sharedListener);
}

/**
 * In the main process: forks the helpers, `node [execArgv] SCRIPT CONFIG --helper`, where SCRIPT is the
 * relay program (main.js, or the one-file bundle on an old host) and CONFIG its config file.
 */
export function forkHelpers(
  count: number,
  script: string,
  configFile: string,
  execArgv: string[],
  log: (line: string) => void,
): RelayHelpers {
  const helpers: Helper[] = Array.from({ length: count }, () => {
    const child = fork(script, [configFile, HELPER_FLAG], {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const h: Helper = {
      child,
      ready: false,
      last: undefined,
      exited: new Promise<void>((resolve) => child.once("exit", () => resolve())),
      waiting: [],
    };
    child.on("message", (m: FromHelper) => {
      if (m.t === "ready") {
        h.ready = true;
        if (ending !== undefined) send(h, ending); // drained or stopped before it was ready
        else for (const [index, server] of listening) send(h, { t: "listen", index }, server);
        return;
      }
      h.last = { status: m.status, lastActivity: m.lastActivity };
      for (const w of h.waiting.splice(0)) w();
    });
    child.once("exit", (code, signal) => {
      if (code !== 0) log(`helper ${child.pid} exited (${code ?? signal})`);
      // Its connections ended with it: what it served stays counted, nothing of it is open any more.
      if (h.last !== undefined) h.last = { status: closedStatus(h.last.status), lastActivity: Date.now() };
      for (const w of h.waiting.splice(0)) w();
    });
    child.on("error", (error) => log(`helper ${child.pid}: ${error.message}`));
    return h;
  });
  /** The listening socket of each shared listener (its index in the config), as last shared. */
  const listening = new Map<number, Server>();
  let ending: ToHelper | undefined;
  function send(h: Helper, m: ToHelper, server?: Server): void {
    if (!h.child.connected || !h.ready) return;
    try {
      h.child.send(m, server);
    } catch (error) {
      log(`helper ${h.child.pid}: ${(error as Error).message}`);
    }
  }
  /** Waits for every helper to exit; past `ms`, kills the ones left. */
  const exitAll = async (ms: number) => {
    const timer = setTimeout(() => {
      for (const h of helpers) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill("SIGKILL");
    }, ms);
    await Promise.all(helpers.map((h) => h.exited));
    clearTimeout(timer);
  };
  return {
    share(index, server) {
      listening.set(index, server);
      for (const h of helpers) send(h, { t: "listen", index }, server);
    },
    statuses() {
      return helpers.flatMap((h) => (h.last === undefined ? [] : [h.last]));
    },
    async refresh() {
      await Promise.all(
        helpers.map(
          (h) =>
            new Promise<void>((resolve) => {
              if (!h.child.connected || !h.ready) return resolve();
              const timer = setTimeout(resolve, 1_000);
              h.waiting.push(() => {
                clearTimeout(timer);
                resolve();
              });
              send(h, { t: "report" });
            }),
        ),
      );
    },
    async drain(deadlineMs) {
      ending = { t: "drain", deadlineMs };
      for (const h of helpers) send(h, ending);
      await exitAll(deadlineMs + 5_000);
    },
    async stop() {
      ending = { t: "stop" };
      for (const h of helpers) send(h, ending);
      await exitAll(5_000);
    },
  };
}

/** A helper's status once it has exited: the same counts, nothing open. */
function closedStatus(s: RelayStatus): RelayStatus {
  return {
    ...s,
    state: "stopped",
    active: 0,
    listeners: s.listeners.map((l) => ({ ...l, active: 0 })),
    clients: s.clients.map((c) => ({ ...c, active: 0 })),
  };
}

/** In a helper process: serves the shared listeners the main process passes, until it says stop. */
export async function runHelper(config: RelayConfig, log: (line: string) => void): Promise<number> {
  // The helper's config lists the shared listeners only; `shared[i]` is listener i's index in the main one's.
  const shared = config.listeners.flatMap((c, i) => (sharedListener(c) ? [i] : []));
  let relay: RelayHandle | undefined;
  const early: { index: number; server: Server }[] = [];
  // A drain or stop asked while the relay is still starting is done once it has started.
  let ending: { t: "drain"; deadlineMs: number } | { t: "stop" } | undefined;
  const end = (e: NonNullable<typeof ending>) => {
    ending ??= e;
    if (relay === undefined) return;
    if (e.t === "drain") void relay.drain(e.deadlineMs);
    else void relay.stop();
  };
  process.on("message", (m: ToHelper, server: Server | undefined) => {
    if (m.t === "listen" && server !== undefined) {
      const index = shared.indexOf(m.index);
      if (relay === undefined) early.push({ index, server });
      else relay.adopt(index, server);
    } else if (m.t === "report") report();
    else if (m.t === "drain" || m.t === "stop") end(m);
  });
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => undefined);
  process.on("disconnect", () => end({ t: "stop" }));
  process.send?.({ t: "ready" }); // the main process sends the listening sockets from now on
  const { admin: _admin, handover: _handover, ...rest } = config;
  relay = await startRelay(
    {
      ...rest,
      listeners: shared.map((i) => config.listeners[i]!),
      drain: config.drain?.deadlineMs === undefined ? undefined : { deadlineMs: config.drain.deadlineMs },
    },
    { log, adopting: true },
  );
  for (const e of early.splice(0)) relay.adopt(e.index, e.server);
  if (ending !== undefined) end(ending);
  function report(): void {
    if (relay === undefined || !process.connected) return;
    process.send?.({ t: "status", status: relay.status(), lastActivity: relay.activity().lastActivity });
  }
  const timer = setInterval(report, 1_000);
  report();
  await relay.stopped;
  clearInterval(timer);
  report();
  if (process.connected) process.disconnect();
  return 0;
}
