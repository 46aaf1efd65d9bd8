import { execFile } from "node:child_process";
import { parseRsyncStats, rsyncArgv, sshArgv, type OldHost } from "@cutover/relay";
import { planFilesStep, planSyncSsh } from "../old-host/relay-config.js";
import { openOldHost, type RemoteCliOptions, type RemoteDeps } from "../old-host/connect.js";
import { UserError } from "../errors.js";
import { silentReporter, type Reporter } from "../output/reporter.js";
import type { PreflightCheck, StepOutcome, WarmSyncResult } from "@cutover/core/journal";

import type { LoadedPlan } from "../plan/load.js";
import { StepFailed, type StepRuntime } from "./run.js";

export type { PreflightCheck, WarmSyncResult };

/**
 * Where the sync's commands run: on the old host, over SSH (old.ssh), or on this machine when the plan has
 * no old.ssh (a runner on the old host itself, the demo, the tests). The final sync runs in the relay; these
 * are the warm pass and the preflight checks.
 */
export interface OldHostShell {
  label: string;
  run(argv: readonly string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): void;
}

export async function openOldHostShell(
  loaded: LoadedPlan,
  deps: RemoteDeps,
  out: Reporter,
  opts: RemoteCliOptions,
): Promise<OldHostShell> {
  if (loaded.plan.old.ssh !== undefined) {
    const { host } = await openOldHost(deps, out, loaded, opts);
    return shellOf(host);
  }
  return {
    label: "this machine",
    run: (argv, timeoutMs = 3_600_000) =>
      new Promise((resolve) => {
        execFile(
          argv[0]!,
          argv.slice(1),
          { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) =>
            resolve({
              code:
                error === null
                  ? 0
                  : typeof (error as { code?: unknown }).code === "number"
                    ? ((error as { code: number }).code as number)
                    : 127,
              stdout,
              stderr: stderr || (error?.message ?? ""),
            }),
        );
      }),
    close: () => undefined,
  };
}

function shellOf(host: OldHost): OldHostShell {
  return {
    label: host.label,
    run: (argv, timeoutMs = 3_600_000) => host.exec(argv, { sudo: true, timeoutMs }),
    close: () => host.close(),
  };
}

/**
 * The warm pass: rsync of every `sync.files` path from the old host to the new one, ahead of the swap, so
 * the final pass in the handover's hold copies only what changed since. The same command as the final pass.
 */
export async function runWarmSync(
  loaded: LoadedPlan,
  shell: OldHostShell,
  say: (line: string) => void,
  dryRun: boolean,
): Promise<WarmSyncResult> {
  const step = planFilesStep(loaded.plan);
  if (step === undefined) throw new UserError("the plan has no sync.files to copy");
  const t0 = performance.now();
  const result: WarmSyncResult = { host: shell.label, dryRun, paths: [], files: 0, bytes: 0, durationMs: 0 };
  for (const p of step.paths) {
    const directory = (await shell.run(["test", "-d", p.from], 30_000)).code === 0;
    const argv = rsyncArgv(p, step.ssh, directory);
    const entry = { from: p.from, to: p.to ?? p.from, delete: p.delete === true, files: 0, bytes: 0, command: argv };
    result.paths.push(entry);
    if (dryRun) {
      say(`would run on ${shell.label}: ${argv.join(" ")}`);
      continue;
    }
    const r = await shell.run(argv);
    if (r.code !== 0)
      throw new UserError(`rsync of ${p.from} on ${shell.label} exited ${r.code}: ${lastLines(r.stderr)}`, {
        details: ["the old host copies to new.ssh with its own ssh client: check sync.ssh (identity, knownHosts)"],
      });
    const stats = parseRsyncStats(r.stdout);
    entry.files = stats.files;
    entry.bytes = stats.bytes;
    result.files += stats.files;
    result.bytes += stats.bytes;
    say(`sync ${p.from} → ${step.ssh.target}:${entry.to}: ${stats.files} files, ${stats.bytes} bytes`);
  }
  result.durationMs = Math.round(performance.now() - t0);
  return result;
}

/**
 * What the sync needs, checked before the swap: rsync (files), mysql and mysqldump (dump) on both hosts,
 * the old host's ssh reaching the new one with its key checked, the credentials working, and for
 * replication a replica that runs and how far behind it is.
 */
export async function checkSync(loaded: LoadedPlan, shell: OldHostShell): Promise<PreflightCheck[]> {
  const sync = loaded.plan.sync;
  if (sync === undefined) return [];
  const ssh = planSyncSsh(loaded.plan);
  const onNew = (command: string) => [...sshArgv(ssh), ssh.target, command];
  const checks: PreflightCheck[] = [];
  const check = async (name: string, argv: readonly string[], detail: (stdout: string) => string | undefined) => {
    const r = await shell.run(argv, 30_000);
    const problem = r.code === 0 ? detail(r.stdout) : undefined;
    checks.push(
      r.code !== 0
        ? { check: name, ok: false, detail: lastLines(r.stderr) || `exited ${r.code}` }
        : problem?.startsWith("!")
          ? { check: name, ok: false, detail: problem.slice(1) }
          : { check: name, ok: true, detail: problem ?? "ok" },
    );
  };
  const tools = [...(sync.files.length > 0 ? ["rsync"] : []), ...(sync.mysql ? ["mysql"] : [])];
  const oldTools = [...tools, ...(sync.mysql?.mode === "dump" ? ["mysqldump"] : [])];
  if (oldTools.length > 0)
    await check(
      `sync tools on the old host (${oldTools.join(", ")})`,
      ["sh", "-c", `command -v ${oldTools.join(" ")}`],
      () => "present",
    );
  if (tools.length > 0)
    await check(
      `sync tools on the new host (${tools.join(", ")}), reached over ssh from the old host`,
      onNew(`command -v ${tools.join(" ")}`),
      () => "present",
    );
  const m = sync.mysql;
  if (m !== undefined) {
    await check(
      "mysql credentials on the old host",
      ["mysql", `--defaults-extra-file=${m.optionsFile}`, "--protocol=TCP", "-N", "-B", "-e", "SELECT VERSION()"],
      (v) => `server ${v.trim()}`,
    );
    const sql = m.mode === "replication" ? "SHOW SLAVE STATUS" : "SELECT VERSION()";
    await check(
      m.mode === "replication" ? "replica on the new host" : "mysql credentials on the new host",
      onNew(`mysql --defaults-extra-file=${m.newOptionsFile} -E -e '${sql}'`),
      (out) => (m.mode === "replication" ? replicaHealth(out) : `server ${out.replace(/.*VERSION\(\): /s, "").trim()}`),
    );
  }
  return checks;
}

/** From `SHOW SLAVE STATUS` (vertical): running and how far behind, or `!why` when it cannot be promoted. */
export function replicaHealth(text: string): string {
  const field = (name: string) => new RegExp(`^\\s*(?:Slave|Replica)_${name}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim();
  if (text.trim() === "")
    return "!the new server is not a replica (SHOW SLAVE STATUS is empty): set up replication from the old server first";
  const io = field("IO_Running");
  const sqlRunning = field("SQL_Running");
  const behind = /^\s*Seconds_Behind_(?:Master|Source):\s*(.*)$/m.exec(text)?.[1]?.trim();
  if (io !== "Yes" || sqlRunning !== "Yes")
    return `!replication is not running (IO ${io ?? "?"}, SQL ${sqlRunning ?? "?"}): ${/^\s*Last_Error:\s*(.*)$/m.exec(text)?.[1]?.trim() || "see SHOW SLAVE STATUS"}`;
  return `running, ${behind === "NULL" || behind === undefined ? "lag unknown" : `${behind} s behind`}`;
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join("; ");
}

function runnerShell(rt: StepRuntime, env: Record<string, string | undefined>): Promise<OldHostShell> {
  return openOldHostShell(rt.loaded, { cwd: rt.loaded.dir, env, now: rt.now }, silentReporter(rt.say), {
    identity: env.CUTOVER_SSH_IDENTITY,
    knownHosts: env.CUTOVER_SSH_KNOWN_HOSTS,
  });
}

/** The timeline's warm pass (the `sync` step), on the old host. */
export async function warmSyncStep(
  rt: StepRuntime,
  env: Record<string, string | undefined>,
): Promise<StepOutcome<"sync">> {
  const shell = await runnerShell(rt, env);
  try {
    const r = await runWarmSync(rt.loaded, shell, rt.say, false);
    return { status: "done", result: r };
  } catch (error) {
    throw new StepFailed(
      "sync",
      (error as Error).message,
      "the warm pass is retried; run it by hand: cutover sync warm",
    );
  } finally {
    shell.close();
  }
}

/** The preflight's sync checks, run on the old host. */
export async function syncChecks(rt: StepRuntime, env: Record<string, string | undefined>): Promise<PreflightCheck[]> {
  let shell: OldHostShell;
  try {
    shell = await runnerShell(rt, env);
  } catch (error) {
    return [{ check: "sync: reach the old host", ok: false, detail: (error as Error).message }];
  }
  try {
    return await checkSync(rt.loaded, shell);
  } finally {
    shell.close();
  }
}
