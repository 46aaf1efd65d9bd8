import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { connectOldHost, defaultRemoteDir, type OldHost } from "@cutover/relay";
import type { Deps } from "../context.js";
import { UsageError, UserError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import type { LoadedPlan } from "../plan/load.js";

/** The options every command that reaches the old host over SSH takes (deploy, script --upload, logs, status/stop --remote). */
export interface RemoteCliOptions {
  plan?: string | undefined;
  identity?: string | undefined;
  knownHosts?: string | undefined;
  acceptNew?: boolean | undefined;
  remoteDir?: string | undefined;
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
