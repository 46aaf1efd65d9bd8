/**
 * Arming a run on this machine: systemd timers or at jobs that call `cutover tick` at each step time,
 * installed, found again by their tag and removed (the units and jobs themselves are planned in
 * timeline/schedule.ts). `cutover schedule` and `tick` use it.
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { writeFileAtomic } from "@cutover/dns";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { UserError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import { formatUtc } from "../output/timeline.js";
import {
  atTag,
  atEnvironment,
  credentialNames,
  environmentFile,
  planAtJobs,
  planSystemdUnits,
  tickEnvPath,
  type ScheduleTarget,
} from "../timeline/schedule.js";
import type { Session } from "../timeline/session.js";

const run = promisify(execFile);

/** How to run this very cutover from a unit or a job: the node binary and the CLI script, absolute. */
export function selfCommand(): string[] {
  const script = fileURLToPath(new URL("../cli.js", import.meta.url));
  return [process.execPath, script];
}

async function runChecked(cmd: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 30_000 });
    return `${stdout}${stderr}`;
  } catch (error) {
    const e = error as { stderr?: string; message: string; code?: string };
    const why =
      e.code === "ENOENT" ? `${cmd} is not installed` : (e.stderr || e.message).trim().split("\n").slice(-2).join(" ");
    throw new UserError(`${what}: ${why}`, { code: "E_SCHEDULE" });
  }
}

export interface ScheduleRecord {
  with: "systemd" | "at";
  files?: string[];
  timers?: string[];
  user?: boolean;
  jobs?: Array<{ id: string; at: string }>;
}

export async function readRecord(session: Session): Promise<ScheduleRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(session.store.dir, "schedule.json"), "utf8")) as ScheduleRecord;
  } catch {
    return undefined;
  }
}

export async function writeRecord(session: Session, record: ScheduleRecord | undefined): Promise<void> {
  const path = join(session.store.dir, "schedule.json");
  if (!record) await rm(path, { force: true });
  else await writeFile(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

export async function systemd(
  session: Session,
  target: ScheduleTarget,
  out: Reporter,
  opts: { print: boolean; remove?: boolean; unitDir?: string; start?: boolean },
  env: Record<string, string | undefined>,
): Promise<void> {
  const user = process.getuid?.() !== 0;
  const envFile = tickEnvPath(target.stateDir);
  const dir = opts.unitDir ?? (user ? join(homedir(), ".config/systemd/user") : "/etc/systemd/system");
  const ctl = (args: string[]) =>
    runChecked("systemctl", [...(user ? ["--user"] : []), ...args], `systemctl ${args.join(" ")}`);
  if (opts.remove) {
    const rec = await readRecord(session);
    const files =
      rec?.files ??
      Object.keys(planSystemdUnits(session.state.name, session.timeline, session.state, target).files).map((f) =>
        join(dir, f),
      );
    if (opts.print) {
      out.data({ remove: files });
      for (const f of files) out.line(`would remove ${f}`);
      return;
    }
    if (opts.start !== false && rec?.timers) await ctl(["disable", "--now", ...rec.timers]).catch(() => undefined);
    for (const f of [...files, envFile]) await rm(f, { force: true });
    if (opts.start !== false) await ctl(["daemon-reload"]).catch(() => undefined);
    await writeRecord(session, undefined);
    out.data({ removed: files });
    out.line(`removed ${files.length} unit files`);
    return;
  }
  const units = planSystemdUnits(session.state.name, session.timeline, session.state, target);
  // systemd's own parser checks every OnCalendar value, where it is installed.
  for (const c of [...units.calendars, ...units.polls]) {
    await runChecked("systemd-analyze", ["calendar", c], `OnCalendar=${c} is not valid`).catch((e: Error) => {
      if (!/is not installed/.test(e.message)) throw e;
    });
  }
  const credentials = credentialNames(session.loaded.plan).filter((n) => env[n] !== undefined);
  if (opts.print) {
    out.data({
      dir,
      files: units.files,
      calendars: units.calendars,
      polls: units.polls,
      environmentFile: envFile,
      credentials,
    });
    for (const [name, text] of Object.entries(units.files)) {
      out.line(out.c.bold(`# ${join(dir, name)}`));
      out.line(text);
    }
    out.line(
      `# ${envFile} (0600): ${credentials.length ? credentials.join(", ") : "nothing (no credential is set in this environment)"}`,
    );
    return;
  }
  // The timers run without this shell's environment: the credentials the plan needs go to a 0600 file
  // the service reads (values never printed; --remove deletes it).
  await writeFileAtomic(envFile, environmentFile(credentials, env), { mode: 0o600 });
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const [name, text] of Object.entries(units.files)) {
    const p = join(dir, name);
    await writeFile(p, text, { mode: 0o644 });
    paths.push(p);
  }
  await writeRecord(session, { with: "systemd", files: paths, timers: units.timers, user });
  if (opts.start !== false) {
    await ctl(["daemon-reload"]).catch((e: Error) => {
      throw new UserError(
        `${e.message}; the units are written in ${dir} but not started (is systemd running here? use --with at instead)`,
        {
          code: "E_SCHEDULE",
        },
      );
    });
    await ctl(["enable", "--now", ...units.timers]);
  }
  out.data({
    dir,
    files: paths,
    calendars: units.calendars,
    environmentFile: envFile,
    credentials,
    started: opts.start !== false,
  });
  out.line(
    `wrote ${paths.length} units in ${dir}${opts.start !== false ? " and started the timers" : ""}; tick runs at:`,
  );
  for (const c of units.calendars) out.line(`  ${c}`);
  out.line("and every minute from the swap until the watch and the drain are done");
  out.line(
    credentials.length
      ? `the service reads ${credentials.join(", ")} from ${envFile} (0600)`
      : `no credential was set in this environment; put what the provider needs in ${envFile} (0600) as NAME=value`,
  );
}

/** The queued at jobs of this plan, found by their tag line (not by what schedule.json remembers). */
export async function queuedAtJobs(stateDir: string): Promise<string[]> {
  const queue = await runChecked("atq", [], "atq");
  const ids = [...queue.matchAll(/^(\d+)\s/gm)].map((m) => m[1]!);
  const tag = atTag(stateDir);
  const mine: string[] = [];
  for (const id of ids) {
    // A job may run and leave the queue in between: a failed `at -c` is not ours to worry about.
    const script = await runChecked("at", ["-c", id], "at -c").catch(() => "");
    if (script.split("\n").includes(tag)) mine.push(id);
  }
  return mine;
}

/** Whether atd runs on this machine (without it, queued jobs never fire). */
async function atdRunning(): Promise<boolean> {
  const { readdir } = await import("node:fs/promises");
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
    if (comm.trim() === "atd") return true;
  }
  return false;
}

async function removeAtJobs(stateDir: string): Promise<string[]> {
  const ids = await queuedAtJobs(stateDir);
  if (ids.length) await runChecked("atrm", ids, "atrm");
  const left = await queuedAtJobs(stateDir);
  if (left.length > 0)
    throw new UserError(`at jobs ${left.join(" ")} of this plan are still queued after atrm`, {
      code: "E_SCHEDULE",
      details: [`remove them by hand: atrm ${left.join(" ")}`],
    });
  return ids;
}

export async function atJobs(
  session: Session,
  target: ScheduleTarget,
  out: Reporter,
  opts: { print: boolean; remove?: boolean },
  env: Record<string, string | undefined>,
): Promise<void> {
  const envFile = tickEnvPath(target.stateDir);
  const credentials = credentialNames(session.loaded.plan).filter((n) => env[n] !== undefined);
  if (opts.remove) {
    if (opts.print) {
      const ids = await queuedAtJobs(target.stateDir);
      out.data({ remove: ids });
      out.line(ids.length ? `would remove at jobs ${ids.join(" ")}` : "no at jobs of this plan are queued");
      return;
    }
    const ids = await removeAtJobs(target.stateDir);
    await rm(envFile, { force: true });
    await writeRecord(session, undefined);
    out.data({ removed: ids, left: [] });
    out.line(
      ids.length
        ? `removed at jobs ${ids.join(" ")}; none of this plan is left in the queue (atq checked)`
        : "no at jobs of this plan are queued (atq checked)",
    );
    return;
  }
  const jobs = planAtJobs(session.timeline, session.state, target);
  if (opts.print) {
    out.data({ jobs: jobs.map((j) => ({ at: j.at.toISOString(), timeSpec: j.timeSpec, script: j.script })) });
    for (const j of jobs) out.line(`TZ=UTC at -t ${j.timeSpec} <<'EOF'\n${j.script}EOF`);
    return;
  }
  // One set of jobs per plan: scheduling again replaces what is queued.
  const replaced = await removeAtJobs(target.stateDir);
  if (replaced.length) out.line(`replaced the queued at jobs ${replaced.join(" ")}`);
  if (!(await atdRunning()))
    out.warn("atd is not running on this machine: the jobs will not fire until it runs (systemctl start atd)");
  await writeFileAtomic(envFile, environmentFile(credentials, env), { mode: 0o600 });
  out.line(
    credentials.length
      ? `the jobs read ${credentials.join(", ")} from ${envFile} (0600); at's own copy of the environment holds none of them`
      : `no credential was set in this environment; put what the provider needs in ${envFile} (0600) as NAME=value`,
  );
  const recorded: Array<{ id: string; at: string }> = [];
  for (const j of jobs) {
    const id = await submitAt(j.timeSpec, j.script, atEnvironment(env, credentials));
    recorded.push({ id, at: j.at.toISOString() });
    out.line(`at job ${id}: tick at ${formatUtc(j.at)}`);
  }
  await writeRecord(session, { with: "at", jobs: recorded });
  out.data({ jobs: recorded, replaced, atd: await atdRunning() });
}

export function submitAt(timeSpec: string, script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("at", ["-t", timeSpec], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let text = "";
    child.stdout.on("data", (d: Buffer) => (text += d.toString()));
    child.stderr.on("data", (d: Buffer) => (text += d.toString()));
    child.on("error", (e) =>
      reject(
        new UserError(`at: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "at is not installed" : e.message}`),
      ),
    );
    child.on("close", (code) => {
      const m = /job (\d+) at/.exec(text);
      if (code === 0 && m) resolve(m[1]!);
      else reject(new UserError(`at -t ${timeSpec} failed: ${text.trim()}`, { code: "E_SCHEDULE" }));
    });
    child.stdin.end(script);
  });
}
