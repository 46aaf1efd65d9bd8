import pc from "picocolors";
import type { LiveView } from "./live.js";

export interface Streams {
  stdout: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
}

export interface ReporterOptions {
  json: boolean;
  env: Record<string, string | undefined>;
}

/**
 * The one place output goes through. It knows `--json`, `NO_COLOR` and whether stdout is a terminal:
 * human lines (coloured on a TTY) or one JSON document; warnings and errors go to stderr.
 */
export interface Reporter {
  readonly json: boolean;
  readonly tty: boolean;
  readonly color: boolean;
  readonly c: ReturnType<typeof pc.createColors>;
  /** A line for humans; ignored in --json mode. */
  line(text?: string): void;
  /** The command's data; in --json mode printed as one JSON document. */
  data(value: unknown): void;
  warn(text: string): void;
  error(text: string): void;
  /** Raw write to stdout (live views). */
  write(text: string): void;
  /**
   * While a live view is on the terminal, lines, warnings and errors are printed above it (a line written
   * below it would be overwritten by the next redraw, or push it out of place); undefined ends that.
   */
  useLiveView(view: LiveView | undefined): void;
}

export function createReporter(streams: Streams, options: ReporterOptions): Reporter {
  const tty = streams.stdout.isTTY === true;
  const noColor = options.env.NO_COLOR !== undefined && options.env.NO_COLOR !== "";
  const color = tty && !noColor && options.env.TERM !== "dumb" && !options.json;
  const errColor = streams.stderr.isTTY === true && !noColor;
  const c = pc.createColors(color);
  const ec = pc.createColors(errColor);
  let live: LiveView | undefined;
  // stderr goes above the view only when it is a terminal too (the same screen); else it stays on stderr.
  const toStderr = (text: string) =>
    live && streams.stderr.isTTY === true ? live.print([text]) : streams.stderr.write(`${text}\n`);
  return {
    json: options.json,
    tty,
    color,
    c,
    line(text = "") {
      if (options.json) return;
      if (live) live.print([text]);
      else streams.stdout.write(`${text}\n`);
    },
    data(value) {
      if (options.json) streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    warn(text) {
      toStderr(`${ec.yellow("warning:")} ${text}`);
    },
    error(text) {
      toStderr(`${ec.red("error:")} ${text}`);
    },
    write(text) {
      streams.stdout.write(text);
    },
    useLiveView(view) {
      live = view;
    },
  };
}

/**
 * A reporter that prints nothing but passes warnings and errors on as progress lines: what a runner's
 * step gives the code it shares with a command (the old host's SSH connection, the sync's checks).
 */
export function silentReporter(say: (t: string) => void): Reporter {
  return {
    json: true,
    tty: false,
    color: false,
    c: pc.createColors(false),
    line: () => {},
    data: () => {},
    warn: (t) => say(`warning: ${t}`),
    error: (t) => say(`error: ${t}`),
    write: () => {},
    useLiveView: () => {},
  };
}
