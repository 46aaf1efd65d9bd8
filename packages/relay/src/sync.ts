/**
 * The final sync of a handover with a hold: runs on the old host while the relay holds new connections,
 * after the old services stopped, so nothing writes to the old data any more. Each step uses the tool
 * admins already trust: rsync over SSH for files, mysqldump streamed into the new server over SSH, or a
 * replica that catches up with the old server's last position and is promoted. Credentials come from
 * option files on the hosts (`--defaults-extra-file`), never from the config, argv of ours or the logs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { stat } from "node:fs/promises";
import type { Readable } from "node:stream";
import type { MysqlDumpSyncStep, MysqlReplicationSyncStep, SyncSsh, SyncStep } from "./config.js";
import { shellJoin } from "./deploy/_shell.js";
import type { SyncReport, SyncStepReport } from "@cutover/core";

export function stepName(s: SyncStep): string {
  if (s.kind === "files") return `files ${s.paths.map((p) => p.from).join(" ")}`;
  if (s.kind === "mysql-dump") return `mysql dump ${s.databases.join(" ")}`;
  if (s.kind === "mysql-replication") return "mysql replica catch-up and promotion";
  return s.name ?? s.argv[0]!;
}

/** The report of a sync not yet run: what `relay status` shows before the handover. */
export function planSyncReport(steps: readonly SyncStep[]): SyncReport {
  return {
    state: "waiting",
    startedAt: null,
    durationMs: null,
    bytes: 0,
    files: 0,
    rows: 0,
    error: null,
    steps: steps.map((s) => ({
      name: stepName(s),
      kind: s.kind,
      state: "pending",
      bytes: 0,
      files: 0,
      rows: 0,
      durationMs: null,
      detail: null,
      error: null,
    })),
  };
}

export interface RunSyncOptions {
  log: (line: string) => void;
  /** Aborted when the hold's time is up: running tools are stopped. */
  signal: AbortSignal;
  /** After a timeout with `release`: a replica is promoted even though it did not catch up. */
  promoteAnyway: boolean;
}

/** Runs every step in order, updating `report` as it goes (the relay's status shows it live). */
export async function runSync(steps: readonly SyncStep[], report: SyncReport, options: RunSyncOptions): Promise<void> {
  const t0 = performance.now();
  report.state = "running";
  report.startedAt = new Date().toISOString();
  try {
    for (const [i, step] of steps.entries()) {
      const r = report.steps[i]!;
      if (options.signal.aborted) break;
      r.state = "running";
      const s0 = performance.now();
      options.log(`sync: ${r.name}`);
      try {
        if (step.kind === "files") await syncFiles(step.paths, step.ssh, r, options.signal);
        else if (step.kind === "mysql-dump") await syncDump(step, r, options);
        else if (step.kind === "mysql-replication") await syncReplica(step, r, options);
        else await runTool(step.argv[0]!, step.argv.slice(1), options.signal);
        r.state = "done";
      } catch (error) {
        r.state = "failed";
        r.error = options.signal.aborted ? "stopped: the hold's time was up" : (error as Error).message;
        throw new Error(`${r.name}: ${r.error}`);
      } finally {
        r.durationMs = Math.round(performance.now() - s0);
        report.bytes = sum(report.steps, "bytes");
        report.files = sum(report.steps, "files");
        report.rows = sum(report.steps, "rows");
      }
      options.log(
        `sync: ${r.name} done in ${r.durationMs} ms${r.bytes ? `, ${r.bytes} bytes` : ""}${r.files ? `, ${r.files} files` : ""}${r.rows ? `, ${r.rows} rows` : ""}${r.detail ? ` (${r.detail})` : ""}`,
      );
    }
    report.state = options.signal.aborted ? "timeout" : "done";
  } catch (error) {
    report.state = options.signal.aborted ? "timeout" : "failed";
    report.error = (error as Error).message;
  } finally {
    report.durationMs = Math.round(performance.now() - t0);
  }
}

function sum(steps: SyncStepReport[], k: "bytes" | "files" | "rows"): number {
  return steps.reduce((n, s) => n + s[k], 0);
}

/** The OpenSSH client's argv (without the command): keys checked, never a prompt. */
export function sshArgv(s: SyncSsh): string[] {
  return [
    "ssh",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "ConnectTimeout=10",
    ...(s.port === undefined ? [] : ["-p", String(s.port)]),
    ...(s.identity === undefined ? [] : ["-i", s.identity]),
    ...(s.knownHosts === undefined ? [] : ["-o", `UserKnownHostsFile=${s.knownHosts}`]),
  ];
}

/**
 * The rsync command for one path: `-a` keeps modes, owners and times; `--delete` only where the plan says
 * (files gone on the old host go on the new one too); a directory's contents go into the same directory.
 */
export function rsyncArgv(
  p: { from: string; to?: string | undefined; delete?: boolean | undefined },
  ssh: SyncSsh,
  directory: boolean,
): string[] {
  const slash = (x: string) => (directory && !x.endsWith("/") ? `${x}/` : x);
  return [
    "rsync",
    "-a",
    "--numeric-ids",
    "--stats",
    ...(p.delete === true ? ["--delete"] : []),
    "-e",
    sshArgv(ssh).join(" "),
    slash(p.from),
    `${rsyncHost(ssh.target)}:${slash(p.to ?? p.from)}`,
  ];
}

/** rsync's remote: an IPv6 address goes in brackets (`root@[2001:db8::20]:/var/www`). */
function rsyncHost(target: string): string {
  const at = target.lastIndexOf("@");
  const host = target.slice(at + 1);
  return host.includes(":") && !host.startsWith("[") ? `${target.slice(0, at + 1)}[${host}]` : target;
}

/** Copies each path with rsync (a warm pass, or the final delta: the same command). */
export async function syncFiles(
  paths: FilesSyncStepPaths,
  ssh: SyncSsh,
  r: { bytes: number; files: number; detail: string | null },
  signal: AbortSignal,
): Promise<void> {
  for (const p of paths) {
    const directory = (await stat(p.from)).isDirectory();
    const argv = rsyncArgv(p, ssh, directory);
    const out = await runTool(argv[0]!, argv.slice(1), signal);
    const stats = parseRsyncStats(out);
    r.bytes += stats.bytes;
    r.files += stats.files;
  }
  r.detail = `${paths.length} path${paths.length === 1 ? "" : "s"} to ${ssh.target}`;
}
type FilesSyncStepPaths = { from: string; to?: string | undefined; delete?: boolean | undefined }[];

/** `Number of regular files transferred: 1,234` and `Total transferred file size: 5,678 bytes` from --stats. */
export function parseRsyncStats(text: string): { files: number; bytes: number } {
  const num = (re: RegExp) => Number((re.exec(text)?.[1] ?? "0").replace(/[,.]/g, ""));
  return {
    files: num(/Number of regular files transferred:\s*([\d,.]+)/),
    bytes: num(/Total transferred file size:\s*([\d,.]+)/),
  };
}

/**
 * On the old host the server is reached over TCP: once the relay took over its unix socket path, a client
 * that connects by the path would reach the relay and be held until the sync it is part of ends.
 */
const OLD_TCP = ["--protocol=TCP"];

/** Runs the mysql client on the old host with one statement; returns its tab-separated rows. */
function oldSql(optionsFile: string, sql: string, signal: AbortSignal): Promise<string[][]> {
  return runTool("mysql", [`--defaults-extra-file=${optionsFile}`, ...OLD_TCP, "-N", "-B", "-e", sql], signal).then(
    rows,
  );
}

/** The same on the new host, over SSH. */
function newSql(step: { newOptionsFile: string; ssh: SyncSsh }, sql: string, signal: AbortSignal) {
  const remote = shellJoin(["mysql", `--defaults-extra-file=${step.newOptionsFile}`, "-N", "-B", "-e", sql]);
  return runTool(sshArgv(step.ssh)[0]!, [...sshArgv(step.ssh).slice(1), step.ssh.target, remote], signal).then(rows);
}

function rows(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split("\t"));
}

const ident = (name: string) => `\`${name.replaceAll("`", "``")}\``;
const literal = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;

/** The old server takes no more writes (best effort: a user without the privilege gets a warning). */
async function freezeOld(optionsFile: string, log: (l: string) => void, signal: AbortSignal): Promise<void> {
  await oldSql(optionsFile, "SET GLOBAL read_only = ON", signal).catch((error: Error) =>
    log(`sync: could not make the old server read-only (${firstLine(error.message)}); its clients are stopped or held`),
  );
}

/** Undoes freezeOld when a hold is aborted and the old services take over again. */
export async function thawOld(steps: readonly SyncStep[], log: (l: string) => void): Promise<void> {
  for (const s of steps)
    if (s.kind === "mysql-dump" || s.kind === "mysql-replication")
      await oldSql(s.optionsFile, "SET GLOBAL read_only = OFF", new AbortController().signal).catch((error: Error) =>
        log(`could not make the old server writable again: ${firstLine(error.message)}`),
      );
}

/** mysqldump --single-transaction of the listed databases, piped into the new server over SSH. */
async function syncDump(step: MysqlDumpSyncStep, r: SyncStepReport, options: RunSyncOptions): Promise<void> {
  const { signal } = options;
  await freezeOld(step.optionsFile, options.log, signal);
  // The rows, counted once writes stopped: what the new server must hold afterwards.
  const tables = await oldSql(
    step.optionsFile,
    `SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema IN (${step.databases.map(literal).join(", ")})`,
    signal,
  );
  if (tables.length > 0) {
    const count = tables.map(([db, t]) => `(SELECT COUNT(*) FROM ${ident(db!)}.${ident(t!)})`).join(" + ");
    r.rows = Number((await oldSql(step.optionsFile, `SELECT ${count}`, signal))[0]?.[0] ?? 0);
  }
  const dump = spawn(
    "mysqldump",
    [
      `--defaults-extra-file=${step.optionsFile}`,
      ...OLD_TCP,
      "--single-transaction",
      "--routines",
      "--triggers",
      "--events",
      "--databases",
      ...step.databases,
    ],
    { stdio: ["ignore", "pipe", "pipe"], signal },
  );
  const ssh = sshArgv(step.ssh);
  const load = spawn(
    ssh[0]!,
    [...ssh.slice(1), step.ssh.target, shellJoin(["mysql", `--defaults-extra-file=${step.newOptionsFile}`])],
    { stdio: ["pipe", "pipe", "pipe"], signal },
  );
  dump.stdout.on("data", (chunk: Buffer) => (r.bytes += chunk.length));
  dump.stdout.pipe(load.stdin);
  load.stdin.on("error", () => undefined); // the loader failing is reported by its exit status
  const [d, l] = await Promise.all([finished(dump, "mysqldump"), finished(load, "mysql on the new host (over ssh)")]);
  if (d !== undefined) throw new Error(d);
  if (l !== undefined) throw new Error(l);
  r.detail = `${tables.length} tables of ${step.databases.join(", ")} loaded on ${step.ssh.target}`;
}

/**
 * Waits until the replica on the new host has applied everything the old server wrote (its final GTID
 * position, or binlog file and position without GTIDs), then promotes it: replication stopped and cleared,
 * the server writable.
 */
async function syncReplica(step: MysqlReplicationSyncStep, r: SyncStepReport, options: RunSyncOptions): Promise<void> {
  const { signal } = options;
  await freezeOld(step.optionsFile, options.log, signal);
  const version = (await oldSql(step.optionsFile, "SELECT VERSION()", signal))[0]?.[0] ?? "";
  const mariadb = /mariadb/i.test(version);
  const seconds = Math.max(1, Math.round((step.timeoutMs ?? 25_000) / 1000));
  let wait: string;
  let target: string;
  const gtid = mariadb
    ? ((await oldSql(step.optionsFile, "SELECT @@GLOBAL.gtid_binlog_pos", signal))[0]?.[0] ?? "")
    : ((
        await oldSql(step.optionsFile, "SELECT IF(@@GLOBAL.gtid_mode = 'ON', @@GLOBAL.gtid_executed, '')", signal)
      )[0]?.[0] ?? "");
  if (gtid !== "" && gtid !== "NULL") {
    target = `GTID ${gtid.replace(/\\n/g, "")}`;
    wait = mariadb
      ? `SELECT MASTER_GTID_WAIT(${literal(gtid)}, ${seconds})`
      : `SELECT WAIT_FOR_EXECUTED_GTID_SET(${literal(gtid.replace(/\\n/g, ""))}, ${seconds})`;
  } else {
    const status = (await oldSql(step.optionsFile, "SHOW MASTER STATUS", signal))[0];
    if (status === undefined)
      throw new Error("the old server has no binary log (SHOW MASTER STATUS is empty): it cannot be replicated");
    const [file, pos] = status;
    target = `${file}:${pos}`;
    wait = `SELECT MASTER_POS_WAIT(${literal(file!)}, ${Number(pos)}, ${seconds})`;
  }
  const result = (await newSql(step, wait, signal))[0]?.[0] ?? "NULL";
  const caughtUp = result !== "NULL" && Number(result) >= 0;
  if (!caughtUp && !options.promoteAnyway)
    throw new Error(
      result === "NULL"
        ? `the replica is not replicating (its SQL thread is stopped or replication is not set up); old server at ${target}`
        : `the replica did not reach ${target} within ${seconds} s`,
    );
  const promote = mariadb
    ? "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF"
    : "STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF";
  await newSql(step, promote, new AbortController().signal);
  r.detail = caughtUp
    ? `replica reached ${target}; promoted (replication cleared, writable)`
    : `replica did NOT reach ${target}; promoted anyway (hold.onTimeout release)`;
  if (!caughtUp) throw new Error(r.detail);
}

/** Runs a program to its end; resolves with its stdout, rejects with its stderr's last lines. */
export function runTool(cmd: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], signal });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    collect(child.stderr, (t) => (err = t));
    child.on("error", (error: NodeJS.ErrnoException) =>
      reject(new Error(error.code === "ENOENT" ? `${cmd} is not installed on this host` : error.message)),
    );
    child.on("close", (code, sig) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${sig ? `stopped by ${sig}` : `exited ${code}`}: ${lastLines(err)}`));
    });
  });
}

function collect(stream: Readable, set: (text: string) => void): void {
  let text = "";
  stream.on("data", (d: Buffer) => {
    text = (text + d.toString()).slice(-4000);
    set(text);
  });
}

/** Resolves undefined when the child exits 0, else with why (never rejects). */
function finished(child: ChildProcess, what: string): Promise<string | undefined> {
  let err = "";
  if (child.stderr) collect(child.stderr, (t) => (err = t));
  return new Promise((resolve) => {
    child.on("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code === "ENOENT" ? `${what}: not installed on this host` : `${what}: ${error.message}`),
    );
    child.on("close", (code, sig) =>
      resolve(code === 0 ? undefined : `${what} ${sig ? `stopped by ${sig}` : `exited ${code}`}: ${lastLines(err)}`),
    );
  });
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join("; ") || "no message";
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}
