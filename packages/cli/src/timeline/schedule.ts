import type { RunState } from "../state/store.js";
import type { Timeline } from "./plan.js";
import { isFinished } from "./run.js";

export interface ScheduleTarget {
  /** Absolute path of the plan file. */
  planPath: string;
  /** Absolute path of the state directory. */
  stateDir: string;
  /** The command that runs cutover: node and the CLI script, absolute. */
  command: string[];
  workDir: string;
}

export interface SystemdUnits {
  /** File name → content. */
  files: Record<string, string>;
  /** The OnCalendar values, to check with `systemd-analyze calendar`. */
  calendars: string[];
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
  const service = `[Unit]
Description=cutover: do what is due in the move "${name}"
Documentation=https://github.com/cutover/cutover

[Service]
Type=oneshot
WorkingDirectory=${target.workDir}
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
OnCalendar=*-*-* *:*:00
AccuracySec=5s

[Install]
WantedBy=timers.target
`;
  return {
    files: { [`${unit}.service`]: service, [`${unit}.timer`]: stepsTimer, [`${unit}-poll.timer`]: pollTimer },
    calendars,
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
  return {
    at,
    timeSpec: atTimeSpec(at),
    script: `${atTag(target.stateDir)}\ncd ${shellQuote(target.workDir)} && ${exec}\n`,
  };
}

/** `at` jobs, one per pending step time: `at -t [[CC]YY]MMDDhhmm[.ss]` reads the command from stdin. */
export function planAtJobs(t: Timeline, state: RunState | undefined, target: ScheduleTarget) {
  return pendingTimes(t, state).map((at) => atJobFor(at, target));
}
