import { Command, type OptionValues } from "@commander-js/extra-typings";

/**
 * What a command reads before it can do anything:
 * - `nothing`: no plan (demo, init, `dns providers`, `relay start --forward ...`);
 * - `plan`: a plan file, as FILE or `--plan FILE` (the same; default `cutover.yaml`);
 * - `run`: a plan and its run's journal: FILE or `--plan FILE`, and `--state DIR`;
 * - `plan?`: a plan when given (FILE or `--plan FILE`), else none (`relay start --forward ...`).
 */
export type Needs = "nothing" | "plan" | "plan?" | "run";

/** Exit codes every command shares; a command lists its own besides these. */
export const SHARED_EXIT_CODES: Readonly<Record<number, string>> = {
  2: "bad usage: an unknown option, a bad value (the message says which)",
  70: "a bug in cutover (the message says so and shows the stack)",
};

/**
 * One command's metadata: what `--help` shows (description, examples, exit codes) and the options every
 * command of its kind takes. `defineCommand` turns it into the command; its own options and action are
 * added to what it returns.
 */
export interface CommandMeta {
  name: string;
  /** One line; `commands/index.ts` lists the top-level ones with the same line. */
  description: string;
  needs: Needs;
  /** What FILE and `--plan` are for, when not simply "the plan file (default cutover.yaml)". */
  planHelp?: string;
  /** What `--json` prints (every command takes it). */
  json: string;
  /** What `--dry-run` shows, for a command that changes something (it then changes nothing). */
  dryRun?: string;
  /** Command lines with what each does: `[line]` or `[line, what it does]`. */
  examples: ReadonlyArray<readonly [string] | readonly [string, string]>;
  /** The command's own exit codes (0 at least); 2 and 70 are added (`SHARED_EXIT_CODES`) unless given here. */
  exitCodes: Readonly<Record<number, string>>;
  /** Lines shown after the examples (signals, files written, where the docs are). */
  notes?: string;
}

type NeedArgs<N extends Needs> = N extends "nothing" ? [] : [string | undefined];
type NeedOpts<N extends Needs> = N extends "nothing"
  ? {}
  : N extends "run"
    ? { plan?: string | undefined; state?: string | undefined }
    : { plan?: string | undefined };
type StdOpts<M extends CommandMeta> = { json?: true | undefined } & (M["dryRun"] extends string
  ? { dryRun?: true | undefined }
  : {});

/** The command `defineCommand` hands to `build`: its plan argument and options, by what it needs. */
export type BaseCommand<M extends CommandMeta> = Command<NeedArgs<M["needs"]>, NeedOpts<M["needs"]>, {}>;

/** The command `defineCommand` returns: what `build` made, with `--dry-run` and `--json` at the end. */
export type DefinedCommand<M extends CommandMeta, C> =
  C extends Command<infer A, infer O, infer G> ? Command<A, O & StdOpts<M>, G> : never;

/**
 * A command from its metadata. `build` adds the command's own options to the base (plan argument and
 * `--plan`, `--state`, by `needs`); `--dry-run` (when the command writes) and `--json` follow them, and the
 * help ends with the examples and the exit codes, laid out the same way for every command.
 *
 *     defineCommand({ name: "swap", needs: "plan", json: "...", dryRun: "...", examples, exitCodes },
 *       (c) => c.option("--force", "...")).action(async (file, opts) => { ... planFileOf(file, opts.plan) });
 */
export function defineCommand<M extends CommandMeta, C extends Command<any[], OptionValues, OptionValues>>(
  meta: M,
  build: (base: BaseCommand<M>) => C,
): DefinedCommand<M, C> {
  let base: Command<any[], any, any> = new Command(meta.name).description(meta.description);
  if (meta.needs !== "nothing")
    base = base
      .argument("[file]", meta.planHelp ?? "the plan file (default cutover.yaml)")
      .option("--plan <file>", "the plan file, as FILE (for scripts that name every option)");
  if (meta.needs === "run")
    base = base.option("--state <dir>", "the run's state directory (default: .cutover/NAME beside the plan)");
  const cmd: Command<any[], any, any> = build(base as BaseCommand<M>);
  if (meta.dryRun !== undefined) cmd.option("--dry-run", meta.dryRun);
  cmd.option("--json", meta.json);
  cmd.addHelpText("after", helpEpilogue(meta));
  return cmd as DefinedCommand<M, C>;
}

/** The end of a command's `--help`: examples, notes, exit codes. */
export function helpEpilogue(meta: Pick<CommandMeta, "examples" | "exitCodes" | "notes">): string {
  // What each example does stands in one column after the lines that fit before it, else under its line.
  const fits = meta.examples.filter(([line, what]) => what !== undefined && line.length <= 48);
  const width = Math.max(0, ...fits.map(([line]) => line.length)) + 4;
  const examples = meta.examples.flatMap(([line, what]) => {
    if (what === undefined) return [`  $ ${line}`];
    return `$ ${line}`.length + 2 <= width
      ? [`  ${`$ ${line}`.padEnd(width)}${what}`]
      : [`  $ ${line}`, ...wrap(what, 6, 80)];
  });
  const codes = Object.entries({ ...SHARED_EXIT_CODES, ...meta.exitCodes })
    .map(([code, what]) => [Number(code), what] as const)
    .sort(([a], [b]) => a - b)
    .flatMap(([code, what]) => {
      const [first = "", ...rest] = wrap(what, 6, 80);
      return [`  ${String(code).padEnd(4)}${first.trimStart()}`, ...rest];
    });
  return [
    "",
    "Examples:",
    ...examples,
    ...(meta.notes === undefined ? [] : ["", meta.notes]),
    "",
    "Exit codes:",
    ...codes,
  ].join("\n");
}

/** Words in lines of at most `width` columns, each indented by `indent` spaces. */
function wrap(text: string, indent: number, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent + line.length + 1 + word.length > width) {
      lines.push(" ".repeat(indent) + line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(" ".repeat(indent) + line);
  return lines;
}
