import type { Command } from "@commander-js/extra-typings";
import type { Deps } from "../context.js";

type CommandMaker = (deps: Deps) => Command<any, any, any>;

/**
 * A top-level command: its name and the line `cutover --help` lists for it, and a loader for its code.
 * Only the command being run is loaded (with the libraries and SDKs it imports); the others are listed
 * from these lines, so `cutover --version`, `--help` and every command start without loading the rest.
 * The test in test/commands/index.test.ts keeps each line equal to the command's own description.
 */
export interface CommandEntry {
  name: string;
  description: string;
  load: () => Promise<CommandMaker>;
}

/** Every top-level command, in the order `--help` lists them. One entry per noun or verb. */
export const commands: readonly CommandEntry[] = [
  {
    name: "demo",
    description:
      "Run a whole move on loopback, offline, in about a minute: TTL drop, handover, swap, propagation, drain, restore",
    load: async () => (await import("./demo.js")).makeDemoCommand,
  },
  {
    name: "init",
    description: "Write a plan file to start from, with every section explained",
    load: async () => (await import("./init.js")).makeInitCommand,
  },
  {
    name: "plan",
    description: "Validate a plan file and show the timeline: every step, its time and the records it changes",
    load: async () => (await import("./plan.js")).makePlanCommand,
  },
  {
    name: "run",
    description: "Run the timeline in the foreground: sleep until each step's time, do it, show progress; resumable",
    load: async () => (await import("./run.js")).makeRunCommand,
  },
  {
    name: "tick",
    description: "Do what is due now and exit (for cron, systemd timers or at); never does a step twice",
    load: async () => (await import("./tick.js")).makeTickCommand,
  },
  {
    name: "schedule",
    description:
      "Arm the timeline on a machine you own: systemd timers or at jobs that call `cutover tick` at each step time",
    load: async () => (await import("./schedule.js")).makeScheduleCommand,
  },
  {
    name: "status",
    description: "Show where a move stands: the timeline with what is done and next, each record, propagation, relay",
    load: async () => (await import("./status.js")).makeStatusCommand,
  },
  {
    name: "rollback",
    description:
      "Undo the move: put the original records back (contents and TTLs), stop the relay, start the old services",
    load: async () => (await import("./rollback.js")).makeRollbackCommand,
  },
  {
    name: "report",
    description: "Write one self-contained HTML page of the whole move: timeline, DNS changes, propagation, relay",
    load: async () => (await import("./report.js")).makeReportCommand,
  },
  {
    name: "archive",
    description: "Set a run's journal aside (renamed, never deleted) so the plan can start a new run",
    load: async () => (await import("./archive.js")).makeArchiveCommand,
  },
  {
    name: "dns",
    description: "DNS records of the move: list, lower TTLs, swap, restore, roll back, serve",
    load: async () => (await import("./dns/index.js")).makeDnsCommand,
  },
  {
    name: "propagation",
    description: "Show where a DNS change has reached: every authoritative server, public resolvers, RIPE Atlas",
    load: async () => (await import("./propagation/index.js")).makePropagationCommand,
  },
  {
    name: "relay",
    description: "The relay on the old host: forward what still arrives to the new host, show who still arrives, drain",
    load: async () => (await import("./relay/index.js")).makeRelayCommand,
  },
  {
    name: "sync",
    description:
      "The data the old services write (plan's sync:): a warm rsync pass by hand, and what the final sync needs",
    load: async () => (await import("./sync/index.js")).makeSyncCommand,
  },
];

/** The command a command line runs (`cutover NAME ...` or `cutover help NAME`), if it names one. */
export function commandNamed(argv: readonly string[]): CommandEntry | undefined {
  const words = argv.filter((a) => !a.startsWith("-"));
  const name = words[0] === "help" ? words[1] : words[0];
  return commands.find((c) => c.name === name);
}
