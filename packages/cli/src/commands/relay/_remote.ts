import type { Command, OptionValues } from "@commander-js/extra-typings";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { connectOldHost, defaultRemoteDir, remoteRelayStatus, stopRemoteRelay, type OldHost } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { ExitCode, UsageError, UserError } from "../../errors.js";
import type { Reporter } from "../../output/reporter.js";
import { loadPlan, type LoadedPlan } from "../../plan/load.js";
import { formatStatus } from "./_format.js";

/** The options every command that reaches the old host over SSH takes (deploy, script --upload, logs, status/stop --remote). */
export interface RemoteCliOptions {
  plan?: string | undefined;
  identity?: string | undefined;
  knownHosts?: string | undefined;
  acceptNew?: boolean | undefined;
  remoteDir?: string | undefined;
}

const REMOTE_HELP = {
  plan: "the plan file (default cutover.yaml): old.ssh says where, old.hostKey pins the host key",
  identity: "private key to log in with (default: the agent, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa)",
  knownHosts: "known_hosts to check the old host's key (default ~/.ssh/known_hosts) when old.hostKey is not pinned",
  acceptNew: "the old host is not in known_hosts yet: show its key's fingerprint and add it",
  remoteDir: "directory on the old host (default /var/lib/cutover/PLAN-NAME)",
} as const;

/**
 * Adds the options that say how to reach the old host (`--plan`, `--identity`, `--known-hosts`,
 * `--accept-new`, `--remote-dir`) to a command; `prefix` heads each help line (e.g. "with --remote: ").
 */
export function withRemoteOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
  prefix = "",
) {
  return command
    .option("--plan <file>", `${prefix}${REMOTE_HELP.plan}`)
    .option("--identity <file>", `${prefix}${REMOTE_HELP.identity}`)
    .option("--known-hosts <file>", `${prefix}${REMOTE_HELP.knownHosts}`)
    .option("--accept-new", `${prefix}${REMOTE_HELP.acceptNew}`)
    .option("--remote-dir <dir>", `${prefix}${REMOTE_HELP.remoteDir}`);
}

/** The move's plan, for commands that run at any time (the swap may be past). */
export function loadRemotePlan(deps: Deps, file: string | undefined): Promise<LoadedPlan> {
  return loadPlan(file, { cwd: deps.cwd, now: new Date(0), allowPastSwap: true });
}

/** What reaching the old host needs from the outside world (a command's Deps, or the runner's). */
export type RemoteDeps = Pick<Deps, "cwd" | "env" | "now">;

function home(deps: RemoteDeps): string {
  return deps.env.HOME ?? homedir();
}

/**
 * Opens the SSH connection to the plan's old host: host key pinned (old.hostKey) or from known_hosts;
 * says so when --accept-new added it; warns when the host's clock is more than 2 s off ours, since the
 * armed handover fires by that clock.
 */
export async function openOldHost(
  deps: RemoteDeps,
  out: Reporter,
  loaded: LoadedPlan,
  opts: RemoteCliOptions,
): Promise<{ host: OldHost; dir: string; skewMs: number }> {
  const plan = loaded.plan;
  if (plan.old.ssh === undefined)
    throw new UserError(
      "the plan has no old.ssh: say how to reach the old host, e.g. old: { ssh: admin@198.51.100.10 }",
    );
  let identity = opts.identity === undefined ? undefined : resolve(deps.cwd, opts.identity);
  const agent = deps.env.SSH_AUTH_SOCK;
  if (identity === undefined && (agent === undefined || agent === ""))
    identity = ["id_ed25519", "id_ecdsa", "id_rsa"].map((k) => join(home(deps), ".ssh", k)).find((p) => existsSync(p));
  const knownHosts =
    opts.knownHosts === undefined ? join(home(deps), ".ssh", "known_hosts") : resolve(deps.cwd, opts.knownHosts);
  const host = await connectOldHost(plan.old, {
    privateKeyPath: identity,
    agent,
    knownHostsPath: knownHosts,
    acceptNew: opts.acceptNew === true,
    env: deps.env,
  });
  if (host.acceptedNew !== undefined)
    out.warn(`${host.label} was not known: added its key ${host.fingerprint} to ${host.acceptedNew.knownHostsPath}`);
  const clock = await host.clock(() => deps.now().getTime());
  if (Math.abs(clock.skewMs) > 2000)
    out.warn(
      `${host.label}'s clock is ${(Math.abs(clock.skewMs) / 1000).toFixed(1)} s ${clock.skewMs > 0 ? "ahead of" : "behind"} this machine's; the armed handover fires by the old host's clock (fix it with NTP: timedatectl set-ntp true)`,
    );
  let dir = opts.remoteDir ?? defaultRemoteDir(plan.name);
  if (!isAbsolute(dir)) throw new UsageError(`--remote-dir ${dir}: give an absolute path on the old host`);
  dir = dir.replace(/\/+$/, "");
  return { host, dir, skewMs: clock.skewMs };
}

/** `cutover relay status --remote`: the deployment record, whether it runs, and the live status (through SSH). */
export async function showRemoteStatus(
  deps: Deps,
  out: Reporter,
  opts: RemoteCliOptions,
  limit: number,
): Promise<void> {
  const loaded = await loadRemotePlan(deps, opts.plan);
  const { host, dir } = await openOldHost(deps, out, loaded, opts);
  try {
    const r = await remoteRelayStatus(host, { dir });
    out.data(r);
    if (r.deployment === null) {
      out.line(`no relay deployed on ${host.label} in ${dir} (cutover relay deploy)`);
      throw new ExitCode(3);
    }
    const d = r.deployment;
    out.line(
      `${d.kind === "socat" ? "socat relay" : "relay"} on ${host.label}: ${r.running ? "running" : "NOT running"}; deployed ${d.deployedAt}, ${d.supervisor === "systemd" ? `unit ${d.unit}` : `pid ${d.pid}`}, log ${d.logPath}`,
    );
    // Only while it runs: a relay that has drained has no handover ahead of it.
    if (d.handoverAt !== null && r.status === null && r.running)
      out.line(
        Date.parse(d.handoverAt) > deps.now().getTime()
          ? `handover armed for ${d.handoverAt}`
          : `handover was due at ${d.handoverAt}`,
      );
    if (r.status !== null) for (const line of formatStatus(r.status, limit)) out.line(line);
    if (!r.running) throw new ExitCode(3);
  } finally {
    host.close();
  }
}

/** `cutover relay stop --remote [--drain D]`: drain or stop the deployed relay and wait until it is gone. */
export async function stopRemote(
  deps: Deps,
  out: Reporter,
  opts: RemoteCliOptions & { dryRun?: boolean | undefined },
  drainMs: number | undefined,
): Promise<void> {
  const loaded = await loadRemotePlan(deps, opts.plan);
  const { host, dir } = await openOldHost(deps, out, loaded, opts);
  try {
    const r = await stopRemoteRelay(host, { dir, drainMs, dryRun: opts.dryRun === true });
    out.data({ dryRun: opts.dryRun === true, ...r });
    const open = r.status === null ? "" : `, ${r.status.active} open connection(s), ${r.status.total} in total`;
    if (r.action === "none") out.line(`no relay running on ${host.label} in ${dir}`);
    else if (opts.dryRun === true)
      out.line(
        `would ${r.action === "drain" ? `drain (open connections get up to ${Math.round(drainMs! / 1000)} s)` : "stop at once"} the relay on ${host.label}${open}`,
      );
    else out.line(`${r.action === "drain" ? "drained and stopped" : "stopped"} the relay on ${host.label}${open}`);
  } finally {
    host.close();
  }
}
