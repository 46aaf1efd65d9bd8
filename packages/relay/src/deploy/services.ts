import { RelayError } from "../errors.js";
import { checkServiceNames } from "./_shell.js";
import type { OldHost } from "./connect.js";

/** systemd (`systemctl`) when systemd runs the host, else SysV init scripts through `service`. */
export type ServiceManager = "systemd" | "service";

/** `active` / `inactive` / `failed` / `activating` ... as systemctl says; `unknown` when there is no such service. */
export type ServiceState = string;

export interface ServiceReport {
  name: string;
  before: ServiceState;
  after: ServiceState;
  /** The command ran and exited 0. */
  ok: boolean;
  error: string | null;
}

export interface ServicesResult {
  manager: ServiceManager;
  action: "stop" | "start";
  dryRun: boolean;
  services: ServiceReport[];
}

/**
 * Which service manager the host has: systemd only when it is really running (`/run/systemd/system`
 * exists, as sd_booted() checks), since `systemctl` is often installed in containers without it.
 */
export async function detectServiceManager(host: OldHost): Promise<ServiceManager> {
  const r = await host.sh(
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then echo systemd; " +
      "elif command -v service >/dev/null || [ -x /usr/sbin/service ] || [ -x /sbin/service ]; then echo service; else echo none; fi",
  );
  const what = r.stdout.trim();
  if (what === "systemd" || what === "service") return what;
  throw new RelayError(
    `${host.label}: neither systemd (systemctl) nor service is available to stop and start services`,
    {
      code: "E_SERVICE_MANAGER",
    },
  );
}

/** The argv a service manager takes; `{service}` stands for the name (the relay's `stopCommand` format). */
export function serviceCommand(manager: ServiceManager, action: "stop" | "start" | "status"): string[] {
  if (manager === "systemd") return ["systemctl", action === "status" ? "is-active" : action, "{service}"];
  return ["service", "{service}", action];
}

async function stateOf(host: OldHost, manager: ServiceManager, name: string): Promise<ServiceState> {
  const argv = serviceCommand(manager, "status").map((a) => a.replace("{service}", name));
  const r = await host.exec(argv, { sudo: true, timeoutMs: 30_000 });
  if (manager === "systemd") return r.stdout.trim().split("\n")[0] || "unknown";
  if (/unrecognized service|not found|does not exist/i.test(r.stderr + r.stdout)) return "unknown";
  // LSB init script status codes: 0 running, 1-2 dead with a pid/lock file, 3 not running, 4 unknown.
  if (r.code === 0) return "active";
  if (r.code === 1 || r.code === 2) return "failed";
  if (r.code === 3) return "inactive";
  return "unknown";
}

/**
 * Stops or starts services on the old host, in order, reporting each one's state before and after. Names
 * are checked before anything runs (a name with shell metacharacters is refused) and every word is
 * quoted. A service that fails to stop or start does not stop the others; its report says why.
 */
export async function controlServices(
  host: OldHost,
  services: readonly string[],
  action: "stop" | "start",
  options: { dryRun?: boolean; manager?: ServiceManager } = {},
): Promise<ServicesResult> {
  checkServiceNames(services);
  const manager = options.manager ?? (await detectServiceManager(host));
  const reports: ServiceReport[] = [];
  for (const name of services) {
    const before = await stateOf(host, manager, name);
    if (options.dryRun === true) {
      reports.push({ name, before, after: before, ok: true, error: null });
      continue;
    }
    const argv = serviceCommand(manager, action).map((a) => a.replace("{service}", name));
    const r = await host.exec(argv, { sudo: true, timeoutMs: 180_000 });
    const after = await stateOf(host, manager, name);
    const error =
      r.code === 0 ? null : (r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).split("\n").slice(-2).join(" / ");
    reports.push({ name, before, after, ok: r.code === 0, error });
  }
  return { manager, action, dryRun: options.dryRun === true, services: reports };
}
