import { spawn } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  controlServices,
  queryAdmin,
  remoteRelayStatus,
  stopRemoteRelay,
  type OldHost,
  type RelayConfig,
  type RelayStatus,
} from "@cutover/relay";
import { openOldHost } from "../old-host/connect.js";
import { silentReporter } from "../output/reporter.js";
import { processAlive } from "../state/lock.js";
import { resultOf, type RelaySummary, type StepOutcome } from "@cutover/core/journal";
import type { HandoverStatus } from "@cutover/core";

import type { LoadedPlan } from "../plan/load.js";

export type { RelaySummary };

const run = promisify(execFile);

import { planRelayConfig } from "../old-host/relay-config.js";
import { formatUtc } from "../output/timeline.js";
import { formatHoldLines } from "../output/relay.js";
import { StepFailed, type StepRuntime } from "./run.js";

import { count } from "../output/words.js";

/**
 * How the runner reaches the relay. `local`: the old host is this machine (the demo, or a runner on the
 * old host itself): the relay runs as a detached process with its admin socket in the state directory.
 */
export interface RelayDriver {
  kind: "local" | "remote";
  status(): Promise<RelayStatus | undefined>;
  start(config: RelayConfig): Promise<void>;
  drain(deadlineMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** The relay program (packages/relay's main.js), as the local runner and `relay start`'s helpers run it. */
export function relayMainPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@cutover/relay")), "main.js");
}

export function localRelayDriver(stateDir: string): RelayDriver & { adminPath: string } {
  const adminPath = join(stateDir, "relay.sock");
  const status = async (): Promise<RelayStatus | undefined> => {
    try {
      return (await queryAdmin(adminPath, { cmd: "status" }, 3000)) as RelayStatus;
    } catch {
      return undefined;
    }
  };
  return {
    kind: "local",
    adminPath,
    status,
    async start(config) {
      const configPath = join(stateDir, "relay.json");
      await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
      const log = openSync(join(stateDir, "relay.log"), "a", 0o600);
      const child = spawn(process.execPath, [relayMainPath(), configPath], {
        detached: true,
        stdio: ["ignore", log, log],
      });
      child.unref();
      closeSync(log);
      // Up when its admin socket answers.
      for (let i = 0; i < 100; i++) {
        if (await status()) return;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the relay did not start; see ${join(stateDir, "relay.log")}`);
    },
    async drain(deadlineMs) {
      await queryAdmin(adminPath, { cmd: "drain", deadlineMs }, 5000);
    },
    async stop() {
      const pid = (await status())?.pid;
      await queryAdmin(adminPath, { cmd: "stop" }, 5000).catch(() => undefined);
      // Stopped when its process is gone (its rules go before it exits), within a bound.
      for (let i = 0; pid !== undefined && i < 300 && processAlive(pid); i++)
        await new Promise((r) => setTimeout(r, 100));
    },
  };
}

/**
 * The relay only holds the old host's ports from the handover on, so every client it has seen arrived
 * after the swap with a stale answer: the users of stale resolvers.
 */
export function relaySummary(s: RelayStatus): RelaySummary {
  const after = s.clients;
  const restarts = s.restarts?.count ?? 0;
  return {
    summary: `${s.state}, ${s.active} open, ${s.total} forwarded, ${count(after.length, "client")} still arriving after the swap${restarts > 0 ? `; restarted ${restarts}× (last ${s.restarts?.last?.at}: ${s.restarts?.last?.reason})` : ""}`,
    restarts,
    active: s.active,
    total: s.total,
    staleClients: after.map((c) => ({
      address: c.address,
      total: c.total,
      lastSeen: c.lastSeen,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
    })),
  };
}

/**
 * The hold and the sync of a handover in one line, for `status` and the report: what was held and for how
 * long, what the sync copied, and how it ended. Undefined when the handover had no hold.
 */
export function syncSummary(h: HandoverStatus | null | undefined): string | undefined {
  const hold = h?.hold;
  if (hold === undefined) return undefined;
  const sync = h?.sync;
  const held = `${hold.held} connection${hold.held === 1 ? "" : "s"} held${hold.windowMs === null ? "" : ` for a ${hold.windowMs} ms window`} (longest wait ${hold.longestWaitMs} ms${hold.refused ? `, ${hold.refused} refused` : ""})`;
  const copied =
    sync === undefined
      ? ""
      : `; sync ${sync.state}${sync.durationMs === null ? "" : ` in ${sync.durationMs} ms`}: ${sync.files} files, ${sync.bytes} bytes, ${sync.rows} rows`;
  const ended =
    hold.outcome === null
      ? ""
      : `; ${hold.outcome}, released to ${hold.releasedTo === "old-services" ? "the old services" : "the new host"}`;
  return `${hold.state === "holding" ? "holding now: " : ""}${held}${copied}${ended}${sync?.error ? ` (${sync.error})` : ""}`;
}

/**
 * The handover step: the relay takes the old host's ports (rebind or redirect) and the plan's services
 * stop. A relay already running (deployed and armed ahead) is checked; otherwise it is started now.
 */
export async function handoverStep(rt: StepRuntime, driver: RelayDriver): Promise<StepOutcome<"handover">> {
  let s = await driver.status();
  if (!s) {
    const config = planRelayConfig(rt.loaded.plan, { adminPath: (driver as { adminPath?: string }).adminPath ?? "" });
    // The step is due: hand over at once (the relay's clock, not the runner's, would decide otherwise).
    if (config.handover) delete config.handover.at;
    rt.say(
      `handover: starting the relay (${config.handover?.mode ?? "none"}) for ${count(config.listeners.length, "listener")}`,
    );
    await driver.start(config);
    s = await driver.status();
  }
  if (!s) throw new StepFailed("handover", "the relay does not answer on its admin socket");
  // A handover under way (its time has come by the relay's clock) ends in about a second (stopping the
  // services, binding or redirecting): wait for it here, bounded, so the swap is not a poll later.
  for (const until = Date.now() + 60_000; Date.now() < until;) {
    const h = s.handover;
    if (!h || h.state !== "waiting" || (h.at !== null && Date.parse(h.at) > Date.parse(s.now))) break;
    await new Promise((r) => setTimeout(r, 100));
    const next = await driver.status();
    if (!next) break;
    s = next;
  }
  const h = s.handover;
  if (h?.state === "failed")
    throw new StepFailed(
      "handover",
      h.error ?? "the relay's handover failed",
      "see `cutover relay status` and the relay's log",
    );
  if (h?.state === "aborted")
    throw new StepFailed(
      "handover",
      h.error ?? "the hold was aborted: the old services run again",
      "the old host serves again; see `cutover relay status` (the sync's steps) and the relay's log, then roll back or arm a new handover",
    );
  if (h && h.state === "waiting") {
    rt.say(`handover: the relay is armed for ${h.at ?? "the swap"}`);
    return { status: "wait", until: new Date(rt.now().getTime() + 1000), result: { state: "waiting" } };
  }
  if (h && h.state === "holding") {
    for (const line of formatHoldLines(h)) rt.say(`handover: ${line.trim()}`);
    return { status: "wait", until: new Date(rt.now().getTime() + 1000), result: { state: "holding", handover: h } };
  }
  const gap = h?.gapMs != null ? `, gap ${h.gapMs} ms` : "";
  rt.say(`handover: done (${h?.mode ?? "none"}${gap}${h?.stopped.length ? `; stopped ${h.stopped.join(" ")}` : ""})`);
  if (h) for (const line of formatHoldLines(h)) rt.say(`handover: ${line.trim()}`);
  return { status: "done", result: { ...relaySummary(s), handover: h } };
}

/**
 * The drain step: once no client has arrived for the plan's quiet time (or the deadline has come), the
 * relay stops accepting, lets open connections finish and stops; the clients that still arrived after
 * the swap (the users of stale resolvers) are kept for the report.
 */
export async function drainStep(rt: StepRuntime, driver: RelayDriver): Promise<StepOutcome<"drain">> {
  const { quiet, deadline } = rt.loaded.plan.schedule.drain;
  const swap = rt.timeline.swapAt.getTime();
  const now = rt.now().getTime();
  const s = await driver.status();
  const previous = resultOf(rt.state, "drain") ?? {};
  if (!s || s.state === "stopped") {
    return { status: "done", result: { ...previous, summary: `${previous.summary ?? "relay"}; stopped` } };
  }
  const sum = relaySummary(s);
  // A restarted relay starts its statistics afresh: the clients seen before stay in the report.
  const seen = new Set(sum.staleClients.map((c) => c.address));
  sum.staleClients.push(...(previous.staleClients ?? []).filter((c) => !seen.has(c.address)));
  if (sum.restarts > (previous.restarts ?? 0))
    rt.say(
      `relay restarted by its supervisor (${sum.restarts}× so far; last ${s.restarts?.last?.at}, the old process ended by ${s.restarts?.last?.reason})`,
    );
  const lastArrival = Math.max(swap, ...s.clients.map((c) => Date.parse(c.lastSeen)));
  const quietFor = now - lastArrival;
  if (s.state === "running" && ((quietFor >= quiet && s.active === 0) || now >= swap + deadline)) {
    const why = now >= swap + deadline ? "deadline reached" : `quiet for ${Math.round(quietFor / 1000)} s`;
    rt.say(`drain: ${why}; the relay stops accepting and lets ${s.active} open connections finish`);
    await driver.drain(Math.max(10_000, Math.min(300_000, swap + deadline - now)));
  } else if (s.state === "running") {
    rt.say(`drain: ${sum.summary}; last arrival ${formatUtc(new Date(lastArrival))}`);
  }
  return { status: "wait", until: new Date(now + Math.min(30_000, Math.max(1000, quiet / 4))), result: sum };
}

/**
 * The relay on the old host, reached over SSH (`old.ssh`): deployed and armed ahead by `cutover relay
 * deploy`, checked and drained from here. Credentials: the SSH agent or CUTOVER_SSH_IDENTITY (else
 * ~/.ssh/id_*); the host key is pinned in old.hostKey or read from CUTOVER_SSH_KNOWN_HOSTS (else
 * ~/.ssh/known_hosts), never accepted blindly.
 */
export function remoteRelayDriver(rt: StepRuntime, env: Record<string, string | undefined>): RelayDriver {
  const deps = { cwd: rt.loaded.dir, env, now: rt.now };
  const quiet = silentReporter(rt.say);

  const opts = {
    identity: env.CUTOVER_SSH_IDENTITY,
    knownHosts: env.CUTOVER_SSH_KNOWN_HOSTS,
  };
  const withHost = async <T>(fn: (host: OldHost, dir: string) => Promise<T>): Promise<T> => {
    const { host, dir } = await openOldHost(deps, quiet, rt.loaded, opts);
    try {
      return await fn(host, dir);
    } finally {
      host.close();
    }
  };
  return {
    kind: "remote",
    status: () =>
      withHost(async (host, dir) => {
        const r = await remoteRelayStatus(host, { dir });
        return r.running && r.status ? r.status : undefined;
      }),
    async start() {
      throw new StepFailed(
        "handover",
        `no relay is running on ${rt.loaded.plan.old.ssh}`,
        "deploy and arm it first: cutover relay deploy (it hands over at the swap by the old host's clock)",
      );
    },
    drain: (deadlineMs) =>
      withHost(async (host, dir) => void (await stopRemoteRelay(host, { dir, drainMs: deadlineMs }))),
    stop: () => withHost(async (host, dir) => void (await stopRemoteRelay(host, { dir }))),
  };
}

/**
 * Rollback's part on the old host: the relay stops (its redirect rules go with it) and the plan's
 * services start again. Over SSH when the plan has old.ssh, else on this machine.
 */
export async function undoHandover(
  loaded: LoadedPlan,
  stateDir: string,
  env: Record<string, string | undefined>,
  say: (t: string) => void,
  dryRun: boolean,
): Promise<void> {
  const services = loaded.plan.handover.stopServices;
  if (loaded.plan.old.ssh) {
    const deps = { cwd: loaded.dir, env, now: () => new Date() };
    const quiet = silentReporter(say);
    const { host, dir } = await openOldHost(deps, quiet, loaded, {
      identity: env.CUTOVER_SSH_IDENTITY,
      knownHosts: env.CUTOVER_SSH_KNOWN_HOSTS,
    });
    try {
      const r = await stopRemoteRelay(host, { dir, dryRun });
      say(
        r.action === "none"
          ? `no relay running on ${host.label}`
          : `${dryRun ? "would stop" : "stopped"} the relay on ${host.label}`,
      );
      if (services.length > 0) {
        const started = await controlServices(host, services, "start", { dryRun });
        for (const s of started.services)
          say(
            `${dryRun ? "would start" : "started"} ${s.name}: ${s.before} → ${s.after}${s.error ? ` (${s.error})` : ""}`,
          );
      }
    } finally {
      host.close();
    }
    return;
  }
  const driver = localRelayDriver(stateDir);
  if (await driver.status()) {
    if (!dryRun) await driver.stop();
    say(`${dryRun ? "would stop" : "stopped"} the relay (its forwarding rules go with it)`);
  }
  if (services.length > 0) {
    if (loaded.plan.handover.stopCommand) {
      say(`start the services again yourself (the plan stops them with a command of its own): ${services.join(" ")}`);
    } else if (dryRun) say(`would run: systemctl start ${services.join(" ")}`);
    else {
      await run("systemctl", ["start", ...services], { timeout: 60_000 }).then(
        () => say(`started ${services.join(" ")}`),
        (e: Error) => say(`could not start ${services.join(" ")}: ${e.message.split("\n")[0]}; start them by hand`),
      );
    }
  }
}
