import { providerDefinition } from "@cutover/dns";
import type { Plan } from "../plan/schema.js";
import { isFinished } from "./run.js";
import type { RunState } from "@cutover/core/journal";
import type { Timeline } from "@cutover/core";

export interface ScheduleTarget {
  /** Absolute path of the plan file. */
  planPath: string;
  /** Absolute path of the state directory. */
  stateDir: string;
  /** The command that runs cutover: node and the CLI script, absolute. */
  command: string[];
  workDir: string;
  /** How long after the swap the poll timer runs (the drain's deadline); default 72 h. */
  pollUntilMs?: number;
}

/** The environment variables a plan's runner may need: its provider's credentials, the webhook secret, RIPE Atlas. */
export function credentialNames(plan: Plan): string[] {
  // What the plan's provider reads (its token variables and endpoints), as its own file declares them.
  const def = providerDefinition(plan.dns.provider);
  const names = def ? [...def.tokens, ...def.env] : [];
  if (plan.notify?.webhook) names.push(plan.notify.webhook.secretEnv ?? "CUTOVER_NOTIFY_SECRET");
  if (plan.propagation.atlas) names.push("RIPE_ATLAS_KEY");
  return names;
}

/**
 * systemd's EnvironmentFile format: NAME="value"; inside double quotes its parser takes \\, ", ` and $
 * after a backslash literally (as a shell does), and a newline stays part of the value.
 */
export function environmentFile(names: readonly string[], env: Record<string, string | undefined>): string {
  const lines = names.flatMap((n) => {
    const v = env[n];
    return v === undefined ? [] : [`${n}="${v.replace(/[\\"`$]/g, (c) => `\\${c}`)}"`];
  });
  return `# written by cutover schedule --with systemd; removed by --remove\n${lines.join("\n")}\n`;
}

/** The environment file the service reads its credentials from (0600, beside the journal). */
/**
 * The environment `at` is run with: `at` writes its caller's whole environment into the queued job (a
 * file in the spool), so every variable that may hold a secret stays out: the plan's credentials (they
 * reach the job through the 0600 environment file) and anything named like a token, key, secret or password.
 */
export function atEnvironment(
  env: Record<string, string | undefined>,
  credentials: readonly string[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || credentials.includes(k)) continue;
    if (/TOKEN|SECRET|PASSW|CREDENTIAL|API_?KEY|ACCESS_KEY|PRIVATE/i.test(k)) continue;
    out[k] = v;
  }
  // A caller without PATH (an embedding with a bare environment) still finds at and the job its tools.
  return { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", ...out, TZ: "UTC" };
}

export function tickEnvPath(stateDir: string): string {
  return `${stateDir}/tick.env`;
}

/**
 * The OnCalendar lines of the poll timer: every minute from the swap's hour to the end of `until`'s hour,
 * one line per UTC day (systemd has no "from this date on"), so nothing polls in the days before the swap.
 */
export function pollCalendars(from: Date, until: Date): string[] {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const hour = (d: Date) => d.toISOString().slice(11, 13);
  const out: string[] = [];
  for (let d = Date.parse(day(from)); d <= until.getTime(); d += 86_400_000) {
    const date = new Date(d);
    const first = day(date) === day(from);
    const last = day(date) === day(until);
    const hours = `${first ? hour(from) : "00"}..${last ? hour(until) : "23"}`;
    out.push(`${day(date)} ${hours === "00..23" ? "*" : hours}:*:00 UTC`);
  }
  return out;
}

export interface SystemdUnits {
  /** File name → content. */
  files: Record<string, string>;
  /** The OnCalendar values, to check with `systemd-analyze calendar`. */
  calendars: string[];
  /** The poll timer's OnCalendar values (every minute from the swap to the drain's deadline). */
  polls: string[];
  timers: string[];
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `2026-11-30 13:00:00 UTC`: the form systemd's OnCalendar and `systemd-analyze calendar` take. */
export function onCalendar(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** The distinct times at which something is due and not yet done. */
export function pendingTimes(t: Timeline, state: RunState | undefined): Date[] {
  const times = t.steps.filter((s) => !isFinished(state?.steps[s.kind])).map((s) => s.at.getTime());
  return [...new Set(times)].sort((a, b) => a - b).map((ms) => new Date(ms));
}

/**
 * systemd units that call `cutover tick` at every step time (Persistent, so a time missed while the machine
 * was off runs at boot), plus a poll timer every minute from the swap on for the open-ended steps (watch,
 * drain), which `tick` ends by itself when they are finished.
 */
export function planSystemdUnits(
  name: string,
  t: Timeline,
  state: RunState | undefined,
  target: ScheduleTarget,
): SystemdUnits {
  const unit = `cutover-${name}`;
  const exec = [...target.command, "tick", target.planPath, "--state", target.stateDir].map(shellQuote).join(" ");
  const times = pendingTimes(t, state);
  const calendars = times.map(onCalendar);
  // Polls from the swap (the watch's first round) until the drain's deadline, the last open-ended step.
  const swap = t.swapAt;
  const drainEnd = new Date(swap.getTime() + (target.pollUntilMs ?? 72 * 3_600_000));
  const polls = pollCalendars(swap, drainEnd);
  const service = `[Unit]
Description=cutover: do what is due in the move "${name}"
Documentation=https://github.com/cutover/cutover

[Service]
Type=oneshot
WorkingDirectory=${target.workDir}
# The provider's token and the webhook secret (0600, written by \`cutover schedule\`, never printed).
EnvironmentFile=-${tickEnvPath(target.stateDir)}
ExecStart=${exec}
# The runner takes a lock; a second tick at the same time waits for the next timer.
`;
  const stepsTimer = `[Unit]
Description=cutover: step times of the move "${name}"

[Timer]
Unit=${unit}.service
${calendars.map((c) => `OnCalendar=${c}`).join("\n")}
AccuracySec=1s
Persistent=true

[Install]
WantedBy=timers.target
`;
  const pollTimer = `[Unit]
Description=cutover: follow propagation and the relay drain of the move "${name}" until done

[Timer]
Unit=${unit}.service
${polls.map((c) => `OnCalendar=${c}`).join("\n")}
AccuracySec=5s

[Install]
WantedBy=timers.target
`;
  return {
    files: { [`${unit}.service`]: service, [`${unit}.timer`]: stepsTimer, [`${unit}-poll.timer`]: pollTimer },
    calendars,
    polls,
    timers: [`${unit}.timer`, `${unit}-poll.timer`],
  };
}

/** The comment line that marks an at job as one of this plan's (its state directory is its identity). */
export function atTag(stateDir: string): string {
  return `# cutover-plan: ${stateDir}`;
}

export function atTimeSpec(at: Date): string {
  const iso = at.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}.${iso.slice(17, 19)}`;
}

/** One `at` job that runs `cutover tick` at a time; each tick re-arms a job for the next poll (watch, drain). */
export function atJobFor(at: Date, target: ScheduleTarget): { at: Date; timeSpec: string; script: string } {
  const exec = [...target.command, "tick", target.planPath, "--state", target.stateDir, "--rearm-at"]
    .map(shellQuote)
    .join(" ");
  // at reads local time; TZ=UTC in the environment of `at` makes the spec UTC. The tag line finds every
  // job of this plan in the queue (`at -c ID`), whoever queued it: re-scheduling and --remove need no memory.
  // The credentials come from the 0600 environment file `schedule` writes (at copies its caller's
  // environment into the job, which is why they are kept out of that: see atEnvironment).
  const envFile = shellQuote(tickEnvPath(target.stateDir));
  return {
    at,
    timeSpec: atTimeSpec(at),
    script: `${atTag(target.stateDir)}\nif [ -r ${envFile} ]; then set -a; . ${envFile}; set +a; fi\ncd ${shellQuote(target.workDir)} && ${exec}\n`,
  };
}

/** `at` jobs, one per pending step time: `at -t [[CC]YY]MMDDhhmm[.ss]` reads the command from stdin. */
export function planAtJobs(t: Timeline, state: RunState | undefined, target: ScheduleTarget) {
  return pendingTimes(t, state).map((at) => atJobFor(at, target));
}
