import pc from "picocolors";

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
}

export function createReporter(streams: Streams, options: ReporterOptions): Reporter {
  const tty = streams.stdout.isTTY === true;
  const noColor = options.env.NO_COLOR !== undefined && options.env.NO_COLOR !== "";
  const color = tty && !noColor && options.env.TERM !== "dumb" && !options.json;
  const errColor = streams.stderr.isTTY === true && !noColor;
  const c = pc.createColors(color);
  const ec = pc.createColors(errColor);
  return {
    json: options.json,
    tty,
    color,
    c,
    line(text = "") {
      if (!options.json) streams.stdout.write(`${text}\n`);
    },
    data(value) {
      if (options.json) streams.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    warn(text) {
      streams.stderr.write(`${ec.yellow("warning:")} ${text}\n`);
    },
    error(text) {
      streams.stderr.write(`${ec.red("error:")} ${text}\n`);
    },
    write(text) {
      streams.stdout.write(text);
    },
  };
}
