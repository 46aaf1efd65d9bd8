import { readFile } from "node:fs/promises";
import { parseRelayConfig, type RelayConfig } from "../config.js";
import { RelayError } from "../errors.js";
import { knownHostKeys } from "../ssh.js";
import type { RelayStatus } from "../stats.js";
import { checkServiceNames, shellJoin, shellQuote } from "./_shell.js";
import { loadRelayBundle, sha256, type RelayBundle } from "./bundle.js";
import { keyType, knownHostsName, type OldHost } from "./connect.js";
import { planSocatScript } from "./socat.js";
import { detectServiceManager, serviceCommand, type ServiceManager } from "./services.js";

export const RELAY_MIN_NODE = 18;

/** What `deploy.json` in the remote directory records, so status, logs and stop find the relay again. */
export interface Deployment {
  name: string;
  kind: "node" | "socat";
  dir: string;
  deployedAt: string;
  sha256: string;
  /** `systemd`: a transient unit from systemd-run; `pid`: a detached process with a pid file. */
  supervisor: "systemd" | "pid";
  unit: string | null;
  pid: number | null;
  node: string | null;
  adminPath: string | null;
  logPath: string;
  /** When the handover is armed for (the relay's own clock), or null. */
  handoverAt: string | null;
}

export interface DeployOptions {
  /** The move's name (the plan's `name`): names the directory and the systemd unit. */
  name: string;
  config: RelayConfig;
  /** Remote directory (created 0700, owned by root). Default `/var/lib/cutover/NAME`. */
  dir?: string | undefined;
  /** Arm the handover at this instant (the old host's clock); `undefined` keeps the config's. */
  at?: Date | "now" | undefined;
  bundle?: RelayBundle;
  dryRun?: boolean;
  say?: (line: string) => void;
  /** Wait this long for the relay to answer on its admin socket. Default 15 s. */
  healthTimeoutMs?: number;
}

export interface DeployResult {
  host: string;
  dryRun: boolean;
  deployment: Deployment;
  /** The relay's config as written to the host. */
  config: RelayConfig;
  replaced: Deployment | null;
  /** The first status read through the admin socket (null on a dry run). */
  status: RelayStatus | null;
  nodeVersion: string;
  manager: ServiceManager;
  /** The firewall the handover can use on the host (nft first), or null when it has neither. */
  firewall: "nft" | "iptables" | null;
  /**
   * Whether the host has `conntrack` (conntrack-tools): the redirect handover uses it to forget the entries of
   * the connections the stopped services reset, whose clients could otherwise be refused for up to 10 s.
   */
  conntrack: boolean;
}

export function defaultRemoteDir(name: string): string {
  return `/var/lib/cutover/${name}`;
}

export function unitName(name: string): string {
  return `cutover-relay-${name}`;
}

function checkName(name: string): void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name))
    throw new RelayError(`"${name}" is not a plan name (lowercase letters, digits and dashes)`, {
      code: "E_DEPLOY_NAME",
    });
}

function checkDir(dir: string): void {
  if (!/^\/[A-Za-z0-9_./-]+$/.test(dir) || dir.split("/").includes("..") || dir === "/")
    throw new RelayError(`remote directory ${dir}: expected an absolute path of plain characters`, {
      code: "E_DEPLOY_DIR",
    });
}

/** Finds `node` on the host (login PATH, then usual places) and reads its version. */
export async function findRemoteNode(host: OldHost): Promise<{ path: string; version: string } | null> {
  const r = await host.sh(
    'for n in "$(command -v node)" "$(command -v nodejs)" /usr/local/bin/node /usr/bin/node /usr/bin/nodejs; do ' +
      '[ -n "$n" ] && [ -x "$n" ] && echo "$n $("$n" -p process.versions.node)" && exit 0; done; exit 1',
  );
  const [path, version] = r.stdout.trim().split(/\s+/);
  if (r.code !== 0 || path === undefined || version === undefined) return null;
  return { path, version };
}

/** Asks the relay's admin socket on the host, through `node -e` run as root (the socket is 0600). */
const ADMIN_CLIENT =
  'const s=require("net").connect(process.argv[1]);let b="";' +
  's.setTimeout(8000,()=>{process.stderr.write("timeout\\n");process.exit(3)});' +
  's.on("connect",()=>s.write(process.argv[2]+"\\n"));s.on("data",d=>b+=d);' +
  's.on("end",()=>process.stdout.write(b));s.on("error",e=>{process.stderr.write((e.code||e.message)+"\\n");process.exit(2)})';

export async function queryRemoteAdmin(host: OldHost, d: Deployment, request: object): Promise<unknown> {
  if (d.adminPath === null || d.node === null)
    throw new RelayError(`${host.label}: the ${d.kind} relay has no admin socket`, { code: "E_ADMIN_UNREACHABLE" });
  const r = await host.exec([d.node, "-e", ADMIN_CLIENT, d.adminPath, JSON.stringify(request)], {
    sudo: true,
    timeoutMs: 15_000,
  });
  if (r.code !== 0)
    throw new RelayError(
      `${host.label}: the relay does not answer on ${d.adminPath} (${r.stderr.trim() || `exit ${r.code}`})`,
      {
        code: "E_ADMIN_UNREACHABLE",
      },
    );
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new RelayError(`${host.label}: the relay answered something that is not JSON`, { code: "E_ADMIN_PROTOCOL" });
  }
}

/** The deployment recorded in DIR/deploy.json, or null when nothing was deployed there. */
export async function readDeployment(host: OldHost, dir: string): Promise<Deployment | null> {
  checkDir(dir);
  const r = await host.exec(["cat", `${dir}/deploy.json`], { sudo: true });
  if (r.code !== 0) return null;
  try {
    return JSON.parse(r.stdout) as Deployment;
  } catch {
    return null;
  }
}

/** Is the deployed relay's process alive? */
export async function isRemoteRunning(host: OldHost, d: Deployment): Promise<boolean> {
  if (d.supervisor === "systemd" && d.unit !== null) {
    const r = await host.exec(["systemctl", "is-active", `${d.unit}.service`], { sudo: true });
    return r.stdout.trim() === "active" || r.stdout.trim() === "activating";
  }
  const r = await host.sh(`pid=$(cat ${shellQuote(`${d.dir}/relay.pid`)} 2>/dev/null) && kill -0 "$pid"`, {
    sudo: true,
  });
  return r.code === 0;
}

/** Stops the deployed process (TERM, then KILL after `graceMs`) and waits until it is gone. */
async function killRemote(host: OldHost, d: Deployment, graceMs: number): Promise<void> {
  if (d.supervisor === "systemd" && d.unit !== null) {
    await host.exec(["systemctl", "stop", `${d.unit}.service`], { sudo: true, timeoutMs: graceMs + 30_000 });
    await host.exec(["systemctl", "reset-failed", `${d.unit}.service`], { sudo: true });
    return;
  }
  const pidfile = shellQuote(`${d.dir}/relay.pid`);
  const ticks = Math.ceil(graceMs / 100);
  // The pid file's process is checked to be ours (its command line names the directory) before any signal.
  await host.sh(
    `pid=$(cat ${pidfile} 2>/dev/null) || exit 0; grep -q ${shellQuote(d.dir)} /proc/$pid/cmdline 2>/dev/null || exit 0; ` +
      `kill -TERM "$pid" 2>/dev/null; i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt ${ticks} ]; do sleep 0.1; i=$((i+1)); done; ` +
      `kill -KILL "$pid" 2>/dev/null; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; rm -f ${pidfile}`,
    { sudo: true, timeoutMs: graceMs + 30_000 },
  );
}

/** Waits for the relay to leave (it stops by itself after an admin stop or drain). */
async function waitGone(host: OldHost, d: Deployment, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!(await isRemoteRunning(host, d))) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/**
 * The config as the host gets it: the admin socket in the directory, the handover armed at `at`, the
 * services stopped with the host's own manager, and SSH upstream keys and known_hosts pointing at copies
 * in the directory (returned as files to upload). Pure apart from reading the local key files.
 */
export async function planRemoteConfig(
  config: RelayConfig,
  options: { dir: string; manager: ServiceManager; at?: Date | "now" | undefined; now: Date },
): Promise<{ config: RelayConfig; files: { name: string; data: Buffer; mode: number }[] }> {
  const out = structuredClone(config);
  const files: { name: string; data: Buffer; mode: number }[] = [];
  out.admin = { path: `${options.dir}/admin.sock` };
  if (out.handover !== undefined) {
    checkServiceNames(out.handover.services ?? []);
    out.handover.stopCommand ??= serviceCommand(options.manager, "stop");
    if (options.at !== undefined) {
      const armed = (options.at === "now" ? options.now : options.at).getTime();
      // The drain keeps its place relative to the handover (the one rule: quiet counted from the swap).
      const shift = out.handover.at === undefined ? 0 : armed - Date.parse(out.handover.at);
      const moved = (t: string | undefined) =>
        t === undefined ? undefined : new Date(Date.parse(t) + shift).toISOString();
      if (out.drain !== undefined && shift !== 0) {
        const quietAfter = moved(out.drain.quietAfter);
        const stopBy = moved(out.drain.stopBy);
        out.drain = { ...out.drain, ...(quietAfter ? { quietAfter } : {}), ...(stopBy ? { stopBy } : {}) };
      }
      out.handover.at = new Date(armed).toISOString();
    }
  }
  for (const [name, s] of Object.entries(out.ssh ?? {})) {
    if (s.privateKeyPath !== undefined) {
      let data: Buffer;
      try {
        data = await readFile(s.privateKeyPath);
      } catch (error) {
        throw new RelayError(
          `cannot read the key for ssh ${name} (${s.privateKeyPath}): ${(error as NodeJS.ErrnoException).code}`,
          {
            code: "E_SSH_KEY",
          },
        );
      }
      files.push({ name: `ssh-${name}.key`, data, mode: 0o600 });
      s.privateKeyPath = `${options.dir}/ssh-${name}.key`;
    }
    if (s.hostKey === undefined && s.knownHostsPath !== undefined) {
      const text = await readFile(s.knownHostsPath, "utf8").catch(() => "");
      const port = s.port ?? 22;
      const keys = knownHostKeys(text, s.host, port);
      if (keys.length === 0)
        throw new RelayError(`${s.knownHostsPath} has no key for ${knownHostsName(s.host, port)} (ssh ${name})`, {
          code: "E_SSH_HOSTKEY_UNKNOWN",
          hint: "pin new.hostKey in the plan, or connect once with ssh to record the new host's key",
        });
      const lines = keys.map((k) => `${knownHostsName(s.host, port)} ${keyType(k)} ${k.toString("base64")}\n`);
      files.push({ name: `ssh-${name}.known_hosts`, data: Buffer.from(lines.join("")), mode: 0o600 });
      s.knownHostsPath = `${options.dir}/ssh-${name}.known_hosts`;
    }
  }
  parseRelayConfig(out);
  return { config: out, files };
}

/**
 * Deploys the relay to the old host and starts it: checks Node (18+), uploads the bundle and config over
 * SFTP into a private staging directory, verifies the sha256, installs them into DIR (0700, root), stops
 * a relay deployed there before, starts the new one under systemd-run (or detached with a pid file), and
 * waits until it answers on its admin socket. The relay then performs the handover at `handover.at` by
 * the host's own clock, with no connection needed.
 */
export async function deployRelay(host: OldHost, options: DeployOptions): Promise<DeployResult> {
  checkName(options.name);
  const dir = options.dir ?? defaultRemoteDir(options.name);
  checkDir(dir);
  const say = options.say ?? (() => undefined);
  const node = await findRemoteNode(host);
  if (node === null)
    throw new RelayError(`${host.label}: node is not installed (the relay needs Node ${RELAY_MIN_NODE} or newer)`, {
      code: "E_REMOTE_NODE",
      hint: "install nodejs on the old host, or use the socat fallback: cutover relay deploy --socat",
    });
  const major = Number(node.version.split(".")[0]);
  if (!(major >= RELAY_MIN_NODE))
    throw new RelayError(
      `${host.label}: node ${node.version} at ${node.path} is too old (the relay needs ${RELAY_MIN_NODE}+)`,
      {
        code: "E_REMOTE_NODE",
        hint: "install a newer nodejs, or use the socat fallback: cutover relay deploy --socat",
      },
    );
  say(`node ${node.version} at ${node.path}`);
  const manager = await detectServiceManager(host);
  const fw = await host.sh(
    "if command -v nft >/dev/null 2>&1; then echo nft; elif command -v iptables >/dev/null 2>&1; then echo iptables; fi",
    { sudo: true },
  );
  const firewall =
    fw.stdout.trim() === "nft" || fw.stdout.trim() === "iptables" ? (fw.stdout.trim() as "nft" | "iptables") : null;
  const conntrack = (await host.sh("command -v conntrack >/dev/null 2>&1", { sudo: true })).code === 0;
  const hasSystemdRun = manager === "systemd" && (await host.sh("command -v systemd-run >/dev/null")).code === 0;
  const now = new Date();
  const { config, files } = await planRemoteConfig(options.config, { dir, manager, at: options.at, now });
  const bundle = options.bundle ?? (await loadRelayBundle());
  const previous = await readDeployment(host, dir);
  const deployment: Deployment = {
    name: options.name,
    kind: "node",
    dir,
    deployedAt: now.toISOString(),
    sha256: bundle.sha256,
    supervisor: hasSystemdRun ? "systemd" : "pid",
    unit: hasSystemdRun ? unitName(options.name) : null,
    pid: null,
    node: node.path,
    adminPath: config.admin!.path,
    logPath: `${dir}/relay.log`,
    handoverAt: config.handover?.at ?? null,
  };
  const result: DeployResult = {
    host: host.label,
    dryRun: options.dryRun === true,
    deployment,
    config,
    replaced: previous,
    status: null,
    nodeVersion: node.version,
    manager,
    firewall,
    conntrack,
  };
  if (options.dryRun === true) return result;

  // 1. Stage as the login user in a private temp dir, check what arrived.
  const stage = (await host.check(["mktemp", "-d", "/tmp/cutover-relay.XXXXXXXX"])).trim();
  try {
    const uploads = [
      { name: "cutover-relay.cjs", data: bundle.code, mode: 0o600 },
      { name: "config.json", data: Buffer.from(`${JSON.stringify(config, null, 2)}\n`), mode: 0o600 },
      ...files,
    ];
    for (const f of uploads) await host.upload(`${stage}/${f.name}`, f.data, f.mode);
    const staged = await host.check(["sha256sum", `${stage}/cutover-relay.cjs`]);
    if (staged.split(/\s+/)[0] !== bundle.sha256)
      throw new RelayError(
        `${host.label}: the uploaded relay's sha256 does not match (upload corrupted); nothing was replaced`,
        {
          code: "E_DEPLOY_CHECKSUM",
        },
      );
    say(
      `uploaded cutover-relay.cjs (${Math.round(bundle.code.length / 1024)} KiB, sha256 ${bundle.sha256.slice(0, 16)}…) and config.json`,
    );

    // 2. Stop the relay deployed here before (it lets go of its ports and admin socket).
    if (previous !== null && (await isRemoteRunning(host, previous))) {
      await killRemote(host, previous, 5_000);
      say(`stopped the relay deployed ${previous.deployedAt}`);
    }

    // 3. Install into DIR (0700, root) and check the checksum where it will run.
    const install = uploads.map((f) => shellJoin(["install", "-m", "0600", `${stage}/${f.name}`, `${dir}/${f.name}`]));
    await host.check(["sh", "-c", [shellJoin(["install", "-d", "-m", "0700", dir]), ...install].join(" && ")], {
      sudo: true,
    });
    const installed = await host.check(["sha256sum", `${dir}/cutover-relay.cjs`], { sudo: true });
    if (installed.split(/\s+/)[0] !== bundle.sha256)
      throw new RelayError(`${host.label}: ${dir}/cutover-relay.cjs does not match its sha256 after install`, {
        code: "E_DEPLOY_CHECKSUM",
      });
  } finally {
    await host.exec(["rm", "-rf", stage]);
  }

  // 4. Start it.
  const argv = [node.path, `${dir}/cutover-relay.cjs`, `${dir}/config.json`];
  if (deployment.supervisor === "systemd") {
    await host.check(
      [
        "systemd-run",
        `--unit=${deployment.unit}`,
        `--description=cutover relay for ${options.name}`,
        // Restarted 200 ms after it dies (a crash, the OOM killer, kill -9), however often; a clean stop
        // (exit 0) is not restarted.
        "--property=Restart=on-failure",
        "--property=RestartSec=200ms",
        "--property=StartLimitIntervalSec=0",
        `--property=StandardOutput=append:${deployment.logPath}`,
        `--property=StandardError=append:${deployment.logPath}`,
        ...argv,
      ],
      { sudo: true },
    );
    say(`started as systemd unit ${deployment.unit}.service`);
  } else {
    const out = await host.check(
      [
        "sh",
        "-c",
        `cd ${shellQuote(dir)} && { command -v setsid >/dev/null && s=setsid || s=; } && ` +
          // Under the respawn wrapper (supervise.ts): the pid file names the wrapper, which restarts the relay.
          `nohup $s ${shellJoin([argv[0]!, argv[1]!, "--supervise", argv[2]!])} </dev/null >>${shellQuote(deployment.logPath)} 2>&1 & ` +
          `echo $! > ${shellQuote(`${dir}/relay.pid`)}; echo $!`,
      ],
      { sudo: true },
    );
    deployment.pid = Number(out.trim());
    say(`started detached under its respawn wrapper, pid ${deployment.pid} (pid file ${dir}/relay.pid)`);
  }
  await host.check(["sh", "-c", `umask 077 && cat > ${shellQuote(`${dir}/deploy.json`)}`], {
    sudo: true,
    stdin: `${JSON.stringify(deployment, null, 2)}\n`,
  });

  // 5. Health: the relay answers on its admin socket.
  const until = Date.now() + (options.healthTimeoutMs ?? 15_000);
  for (;;) {
    try {
      result.status = (await queryRemoteAdmin(host, deployment, { cmd: "status" })) as RelayStatus;
      break;
    } catch (error) {
      const alive = await isRemoteRunning(host, deployment);
      if (!alive || Date.now() > until) {
        const tail = await remoteRelayLogs(host, { dir, lines: 8 }).catch(() => "");
        throw new RelayError(
          `${host.label}: the relay ${alive ? "does not answer on its admin socket" : "exited right after starting"}${tail ? `; its log ends:\n${tail.trimEnd()}` : ""}`,
          { code: "E_DEPLOY_HEALTH", cause: error },
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (deployment.pid === null) deployment.pid = result.status.pid;
  say(`healthy: pid ${result.status.pid}, ${result.status.listeners.length} listener(s)`);
  return result;
}

export interface RemoteStatus {
  host: string;
  deployment: Deployment | null;
  running: boolean;
  status: RelayStatus | null;
}

/** Where the deployed relay stands: its deployment record, whether it runs, and its live status. */
export async function remoteRelayStatus(host: OldHost, options: { dir: string }): Promise<RemoteStatus> {
  const deployment = await readDeployment(host, options.dir);
  if (deployment === null) return { host: host.label, deployment: null, running: false, status: null };
  const running = await isRemoteRunning(host, deployment);
  let status: RelayStatus | null = null;
  if (running && deployment.kind === "node")
    status = (await queryRemoteAdmin(host, deployment, { cmd: "status" })) as RelayStatus;
  // Under systemd, the unit counts the restarts (the respawn wrapper tells the relay itself).
  if (status !== null && status.restarts === undefined && deployment.supervisor === "systemd" && deployment.unit) {
    const r = await host.exec(["systemctl", "show", "-p", "NRestarts", "--value", `${deployment.unit}.service`], {
      sudo: true,
    });
    const count = Number(r.stdout.trim());
    if (r.code === 0 && Number.isInteger(count)) status.restarts = { count, last: null };
  }
  return { host: host.label, deployment, running, status };
}

/** The last lines of the relay's log on the host. */
export async function remoteRelayLogs(host: OldHost, options: { dir: string; lines?: number }): Promise<string> {
  checkDir(options.dir);
  const n = Math.max(1, Math.min(100_000, Math.floor(options.lines ?? 100)));
  const r = await host.exec(["tail", "-n", String(n), `${options.dir}/relay.log`], { sudo: true });
  if (r.code !== 0)
    throw new RelayError(`${host.label}: no relay log at ${options.dir}/relay.log (${r.stderr.trim()})`, {
      code: "E_DEPLOY_NOT_FOUND",
      hint: "deploy first: cutover relay deploy",
    });
  return r.stdout;
}

export interface StopRemoteResult {
  host: string;
  action: "drain" | "stop" | "none";
  /** The last status before it went (node relay), with its statistics. */
  status: RelayStatus | null;
  stopped: boolean;
}

/**
 * Stops the deployed relay: drains (no new connections, open ones get `drainMs`) or stops at once, then
 * waits until its process is gone. The relay removes its redirect rules as it stops.
 */
export async function stopRemoteRelay(
  host: OldHost,
  options: { dir: string; drainMs?: number | undefined; dryRun?: boolean },
): Promise<StopRemoteResult> {
  const d = await readDeployment(host, options.dir);
  if (d === null || !(await isRemoteRunning(host, d)))
    return { host: host.label, action: "none", status: null, stopped: true };
  const action = options.drainMs === undefined ? "stop" : "drain";
  let status: RelayStatus | null = null;
  if (d.kind === "node")
    status = (await queryRemoteAdmin(host, d, { cmd: "status" }).catch(() => null)) as RelayStatus | null;
  if (options.dryRun === true) return { host: host.label, action, status, stopped: false };
  if (d.kind === "node") {
    const asked = await queryRemoteAdmin(
      host,
      d,
      action === "stop" ? { cmd: "stop" } : { cmd: "drain", deadlineMs: options.drainMs },
    ).then(
      () => true,
      () => false,
    );
    const gone = asked && (await waitGone(host, d, (options.drainMs ?? 0) + 15_000));
    if (!gone) await killRemote(host, d, 5_000);
  } else {
    await killRemote(host, d, options.drainMs ?? 5_000);
  }
  if (d.supervisor === "systemd" && d.unit !== null)
    await host.exec(["systemctl", "reset-failed", `${d.unit}.service`], { sudo: true });
  return { host: host.label, action, status, stopped: true };
}

export interface DeploySocatOptions {
  name: string;
  config: RelayConfig;
  dir?: string | undefined;
  at?: Date | "now" | undefined;
  /** known_hosts lines per SSH connection, for the tunnels. */
  knownHosts?: Record<string, string[]>;
  dryRun?: boolean;
  say?: (line: string) => void;
}

/**
 * The fallback for hosts without Node: uploads the socat script (and its tunnel key and known_hosts)
 * into DIR the same way, stops what was deployed there before, and starts the script detached with a
 * pid file. Its health is the process being alive and its log saying it runs.
 */
export async function deploySocatRelay(
  host: OldHost,
  options: DeploySocatOptions,
): Promise<{
  host: string;
  dryRun: boolean;
  deployment: Deployment;
  script: string;
  warnings: string[];
  replaced: Deployment | null;
}> {
  checkName(options.name);
  const dir = options.dir ?? defaultRemoteDir(options.name);
  checkDir(dir);
  const say = options.say ?? (() => undefined);
  const manager = await detectServiceManager(host);
  const now = new Date();
  const { config, files } = await planRemoteConfig(options.config, { dir, manager, at: options.at, now });
  const plan = planSocatScript(config, { name: options.name, dir, knownHosts: options.knownHosts ?? {}, now });
  const has = await host.sh("command -v socat");
  if (has.code !== 0 && options.dryRun !== true)
    throw new RelayError(`${host.label}: socat is not installed`, {
      code: "E_REMOTE_SOCAT",
      hint: "apt-get install socat (or dnf install socat)",
    });
  const previous = await readDeployment(host, dir);
  const deployment: Deployment = {
    name: options.name,
    kind: "socat",
    dir,
    deployedAt: now.toISOString(),
    sha256: sha256(plan.script),
    supervisor: "pid",
    unit: null,
    pid: null,
    node: null,
    adminPath: null,
    logPath: `${dir}/relay.log`,
    handoverAt: config.handover?.at ?? null,
  };
  const result = {
    host: host.label,
    dryRun: options.dryRun === true,
    deployment,
    script: plan.script,
    warnings: plan.warnings,
    replaced: previous,
  };
  if (options.dryRun === true) return result;
  const stage = (await host.check(["mktemp", "-d", "/tmp/cutover-relay.XXXXXXXX"])).trim();
  try {
    const uploads = [
      { name: "relay.sh", data: Buffer.from(plan.script), mode: 0o600 },
      ...files.filter((f) => f.name.endsWith(".key")),
      ...plan.files.map((f) => ({ name: f.name, data: Buffer.from(f.data), mode: f.mode })),
    ];
    for (const f of uploads) await host.upload(`${stage}/${f.name}`, f.data, f.mode);
    if ((await host.check(["sha256sum", `${stage}/relay.sh`])).split(/\s+/)[0] !== deployment.sha256)
      throw new RelayError(`${host.label}: the uploaded script's sha256 does not match; nothing was replaced`, {
        code: "E_DEPLOY_CHECKSUM",
      });
    say(`uploaded relay.sh (sha256 ${deployment.sha256.slice(0, 16)}…)`);
    if (previous !== null && (await isRemoteRunning(host, previous))) {
      await killRemote(host, previous, 5_000);
      say(`stopped the relay deployed ${previous.deployedAt}`);
    }
    const install = uploads.map((f) =>
      shellJoin(["install", "-m", f.name === "relay.sh" ? "0700" : "0600", `${stage}/${f.name}`, `${dir}/${f.name}`]),
    );
    await host.check(["sh", "-c", [shellJoin(["install", "-d", "-m", "0700", dir]), ...install].join(" && ")], {
      sudo: true,
    });
  } finally {
    await host.exec(["rm", "-rf", stage]);
  }
  const out = await host.check(
    [
      "sh",
      "-c",
      `cd ${shellQuote(dir)} && { command -v setsid >/dev/null && s=setsid || s=; } && ` +
        `nohup $s sh ${shellQuote(`${dir}/relay.sh`)} </dev/null >>${shellQuote(deployment.logPath)} 2>&1 & ` +
        `echo $! > ${shellQuote(`${dir}/relay.pid`)}; echo $!`,
    ],
    { sudo: true },
  );
  deployment.pid = Number(out.trim());
  await host.check(["sh", "-c", `umask 077 && cat > ${shellQuote(`${dir}/deploy.json`)}`], {
    sudo: true,
    stdin: `${JSON.stringify(deployment, null, 2)}\n`,
  });
  const until = Date.now() + 15_000;
  for (;;) {
    const log = await remoteRelayLogs(host, { dir, lines: 20 }).catch(() => "");
    if (
      log.includes(`relay-socat[${deployment.pid}] running`) ||
      log.includes(`relay-socat[${deployment.pid}] handover armed`)
    )
      break;
    if (!(await isRemoteRunning(host, deployment)) || Date.now() > until)
      throw new RelayError(`${host.label}: the socat relay did not start; its log ends:\n${log.trimEnd()}`, {
        code: "E_DEPLOY_HEALTH",
      });
    await new Promise((r) => setTimeout(r, 200));
  }
  say(`started detached, pid ${deployment.pid} (pid file ${dir}/relay.pid)`);
  return result;
}
