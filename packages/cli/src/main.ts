import { Command, CommanderError } from "@commander-js/extra-typings";
import { setTimeout as delay } from "node:timers/promises";
import type { Deps } from "./context.js";
import { ExitCode } from "./errors.js";
import { handleError, writeJsonError } from "./handle-error.js";
import { commandNamed, commands } from "./commands/index.js";

export { ExitCode };
export const VERSION = "0.1.0";

export function defaultDeps(): Deps {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    sleep: (ms, signal) => delay(ms, undefined, signal === undefined ? {} : { signal }),
  };
}

/**
 * The program for one command line: the command it names is loaded whole; the others are listed by name
 * and description only (their code, and the SDKs it imports, stay unloaded).
 */
export async function makeProgram(deps: Deps, argv: readonly string[] = []): Promise<Command> {
  const program = new Command()
    .name("cutover")
    .description(
      "Move live servers to a new host with no downtime: lower DNS TTLs ahead, swap records at a set " +
        "time, forward what still reaches the old host, and prove where the change has propagated.",
    )
    .version(VERSION)
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      writeErr: (s) => void deps.stderr.write(s),
    })
    .exitOverride();
  program.addHelpText(
    "after",
    `
Examples:
  $ cutover demo                                   a whole move on loopback, offline
  $ cutover plan cutover.yaml                      show the timeline and every change
  $ cutover plan examples/colo-to-linode.yaml --now 2026-11-29T10:00:00Z --json`,
  );
  const wanted = commandNamed(argv);
  const make = await wanted?.load();
  for (const entry of commands) {
    const cmd = entry === wanted && make ? make(deps) : new Command(entry.name).description(entry.description);
    program.addCommand(cmd);
  }
  // Every command at every depth (`dns swap`, `relay start`) throws instead of calling process.exit, so
  // bad usage anywhere reaches main's exit codes and in-process callers keep their process.
  const override = (cmd: Command<any, any, any>) => {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      writeErr: (s) => void deps.stderr.write(s),
    });
    for (const sub of cmd.commands) override(sub);
  };
  for (const cmd of program.commands) override(cmd);
  return program;
}

/** Runs the CLI in-process and returns the exit code. `argv` excludes node and the script. */
export async function main(argv: readonly string[], deps: Deps = defaultDeps()): Promise<number> {
  try {
    const program = await makeProgram(deps, argv);
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof ExitCode) return error.exitCode;
    const json = wantsJson(argv);
    if (error instanceof CommanderError) {
      // help and version are "errors" for commander; their output is already written.
      // (`cutover dns` without a verb shows the help as an error: bad usage, 2.)
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
      if (error.exitCode === 0) return 0;
      if (json) writeJsonError(deps, { code: error.code, message: error.message.replace(/^error: /, ""), exitCode: 2 });
      return 2;
    }
    return handleError(error, deps, { json });
  }
}

/** `--json` on the command line (before a `--`): errors are then also printed as JSON on stdout. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}
