import type { Command, OptionValues } from "@commander-js/extra-typings";
import { remoteRelayStatus, stopRemoteRelay } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { ExitCode } from "../../errors.js";
import type { Reporter } from "../../output/reporter.js";
import { loadPlan, type LoadedPlan } from "../../plan/load.js";
import { openOldHost, type RemoteCliOptions } from "../../old-host/connect.js";
import { formatStatus } from "./_format.js";

const REMOTE_HELP = {
  identity: "private key to log in with (default: the agent, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa)",
  knownHosts: "known_hosts to check the old host's key (default ~/.ssh/known_hosts) when old.hostKey is not pinned",
  acceptNew: "the old host is not in known_hosts yet: show its key's fingerprint and add it",
  remoteDir: "directory on the old host (default /var/lib/cutover/PLAN-NAME)",
} as const;

/**
 * Adds the options that say how to reach the old host (`--identity`, `--known-hosts`, `--accept-new`,
 * `--remote-dir`; the plan's old.ssh says where, old.hostKey pins the host key) to a command; `prefix`
 * heads each help line (e.g. "with --remote: ").
 */
export function withRemoteOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
  prefix = "",
) {
  return command
    .option("--identity <file>", `${prefix}${REMOTE_HELP.identity}`)
    .option("--known-hosts <file>", `${prefix}${REMOTE_HELP.knownHosts}`)
    .option("--accept-new", `${prefix}${REMOTE_HELP.acceptNew}`)
    .option("--remote-dir <dir>", `${prefix}${REMOTE_HELP.remoteDir}`);
}

/** The move's plan, for commands that run at any time (the swap may be past). */
export function loadRemotePlan(deps: Deps, file: string | undefined): Promise<LoadedPlan> {
  return loadPlan(file, { cwd: deps.cwd, now: new Date(0), allowPastSwap: true });
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
