import { spawn } from "node:child_process";
import xterm from "@xterm/headless";

// A pseudo-terminal without a native addon: Python's pty module (python3 is on every Debian machine). The child
// gets the pty as its controlling terminal with the window size set before it starts, so `process.stdout.columns`
// is the width asked for; bytes written to the helper's stdin reach the terminal (so "\x03" is a real Ctrl-C:
// the terminal driver sends SIGINT to the foreground process group); it exits with the child's exit code
// (128 + N when killed by signal N).
const PTY_HELPER = String.raw`
import os, pty, sys, struct, fcntl, termios, select, errno
cols, rows = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(sys.argv[3], sys.argv[3:])
sys.stderr.write("pid %d\n" % pid)
sys.stderr.flush()
inputs = [fd, 0]
while True:
    r, _, _ = select.select(inputs, [], [])
    if 0 in r:
        data = os.read(0, 1024)
        if data:
            os.write(fd, data)
        else:
            inputs.remove(0)
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            break
        os.write(1, data)
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
`;

export interface PtyRun {
  code: number | null;
  /** Everything the program wrote to its terminal, escape sequences included. */
  output: string;
  timedOut: boolean;
  /** The program's process id (it leads its own session and process group). */
  pid: number | undefined;
}

export interface PtyProcess {
  /** The program's pid, once it has started. */
  readonly pid: Promise<number>;
  /** What the program has written so far. */
  output(): string;
  /** Types into the terminal ("\x03" is Ctrl-C). */
  type(text: string): void;
  /** Resolves when something the program wrote matches (or rejects at the run's end). */
  waitFor(pattern: RegExp): Promise<void>;
  readonly done: Promise<PtyRun>;
}

/**
 * Runs a program in a pseudo-terminal of `cols` x `rows`, bounded by a timeout (then its process group is
 * killed, SIGTERM and SIGKILL 5 s later).
 */
export function startInPty(
  command: string,
  args: string[],
  options: { cols: number; rows: number; timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv },
): PtyProcess {
  const child = spawn("python3", ["-c", PTY_HELPER, String(options.cols), String(options.rows), command, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...(options.env ?? process.env), TERM: "xterm-256color", COLUMNS: "", LINES: "" },
  });
  let output = "";
  let stderr = "";
  let timedOut = false;
  let programPid: number | undefined;
  let gotPid: (pid: number) => void = () => {};
  const pid = new Promise<number>((r) => (gotPid = r));
  const waiters: Array<{ pattern: RegExp; resolve: () => void; reject: (e: Error) => void }> = [];
  const check = () => {
    const ready = waiters.filter((w) => w.pattern.test(output));
    for (const w of ready) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
    check();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
    const m = /^pid (\d+)$/m.exec(stderr);
    if (m && programPid === undefined) {
      programPid = Number(m[1]);
      gotPid(programPid);
    }
  });
  const killAll = (signal: NodeJS.Signals) => {
    for (const p of [programPid, child.pid])
      if (p !== undefined)
        try {
          process.kill(-p, signal);
        } catch {
          // that group is gone already
        }
  };
  let hardKill: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    killAll("SIGTERM");
    hardKill = setTimeout(() => killAll("SIGKILL"), 5000);
  }, options.timeoutMs);
  const done = new Promise<PtyRun>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      for (const w of waiters.splice(0))
        w.reject(new Error(`the program ended before writing ${w.pattern}; it wrote:\n${output.slice(-3000)}`));
      resolve({ code, output, timedOut, pid: programPid });
    });
  });
  return {
    pid,
    output: () => output,
    type: (text) => void child.stdin.write(text),
    waitFor: (pattern) =>
      pattern.test(output)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => waiters.push({ pattern, resolve, reject })),
    done,
  };
}

/** Runs a program in a pseudo-terminal to its end (see startInPty). */
export function runInPty(
  command: string,
  args: string[],
  options: { cols: number; rows: number; timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<PtyRun> {
  const p = startInPty(command, args, options);
  return p.done;
}

/** A terminal's contents after a byte stream, as a terminal emulator (xterm.js) shows them. */
export interface Screen {
  /** Every row, scrollback first, trailing spaces removed, trailing empty rows dropped. */
  rows: string[];
  /** The rows that continue the row above because a line was longer than the terminal (should be none). */
  wrapped: number[];
  /** The visible part (the last `rows` rows of the terminal). */
  visible: string[];
}

/**
 * Feeds `output` to a headless xterm of `cols` x `rows` with room for 10000 lines of scrollback. `onlcr`: "\n"
 * also returns the cursor to the first column, as a terminal driver does for a program's output (set it for
 * bytes that did not pass through a pty).
 */
export async function renderTerminal(
  output: string,
  cols: number,
  rows: number,
  o: { onlcr?: boolean } = {},
): Promise<Screen> {
  const term = new xterm.Terminal({
    cols,
    rows,
    scrollback: 10_000,
    allowProposedApi: true,
    convertEol: o.onlcr === true,
  });
  await new Promise<void>((r) => term.write(output, r));
  const buf = term.buffer.active;
  const all: string[] = [];
  const wrapped: number[] = [];
  for (let i = 0; i < buf.length; i++) {
    const line = buf.getLine(i);
    all.push(line?.translateToString(true) ?? "");
    if (line?.isWrapped) wrapped.push(i);
  }
  const visible = all.slice(buf.baseY, buf.baseY + rows);
  while (all.length > 0 && all.at(-1) === "") all.pop();
  term.dispose();
  return { rows: all, wrapped, visible };
}
