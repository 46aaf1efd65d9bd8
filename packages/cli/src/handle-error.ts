import type { Deps } from "./context.js";
import { UserError, isUserFacing } from "./errors.js";
import { createReporter } from "./output/reporter.js";

/** What a failed system call means for the user, by its code; anything not here is not theirs to fix. */
const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EEXIST: "it already exists",
  EADDRINUSE: "the address is already in use",
  EADDRNOTAVAIL: "the address is not on this machine",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "timed out",
  ENOTFOUND: "name not found",
  EAI_AGAIN: "name lookup failed (temporary)",
  EMFILE: "too many open files",
};

type SystemError = Error & {
  code: string;
  syscall?: string;
  hostname?: string;
  path?: string;
  address?: string;
  port?: number;
};

function systemError(error: unknown): SystemError | undefined {
  if (!(error instanceof Error)) return undefined;
  const e = error as Partial<SystemError>;
  return typeof e.code === "string" && e.code in SYSTEM_ERRORS && (e.syscall !== undefined || e.hostname !== undefined)
    ? (error as SystemError)
    : undefined;
}

/**
 * The one error handler: a user's mistake or the network's prints clear lines with what to do and exits
 * with its code (1 a step failed, 2 bad usage or an error), without a stack; anything else is a bug: it
 * prints its stack with a request to report it and exits 70.
 */
export function handleError(error: unknown, deps: Deps, options: { json?: boolean } = {}): number {
  const out = createReporter(deps, { json: false, env: deps.env });
  const json = (e: JsonError) => {
    if (options.json === true) writeJsonError(deps, e);
    return e.exitCode;
  };
  if (error instanceof UserError) {
    out.error(error.message);
    for (const line of error.details) deps.stderr.write(`  ${line}\n`);
    return json({
      code: error.code,
      message: error.message,
      ...(error.details.length > 0 ? { details: error.details } : {}),
      exitCode: error.exitCode,
    });
  }
  if (isUserFacing(error)) {
    out.error(error.message);
    const hint = (error as { hint?: unknown }).hint;
    if (typeof hint === "string") deps.stderr.write(`  ${hint}\n`);
    return json({
      code: error.code,
      message: error.message,
      ...(typeof hint === "string" ? { hint } : {}),
      exitCode: 1,
    });
  }
  const sys = systemError(error);
  if (sys) {
    const where =
      sys.path ?? sys.hostname ?? (sys.address ? `${sys.address}${sys.port ? `:${sys.port}` : ""}` : undefined);
    const message = `${sys.syscall ?? "system call"}${where ? ` ${where}` : ""}: ${SYSTEM_ERRORS[sys.code]} (${sys.code})`;
    out.error(message);
    return json({ code: sys.code, message, exitCode: 2 });
  }
  const stack = error instanceof Error ? (error.stack ?? String(error)) : String(error);
  out.error(`unexpected failure, this is a bug in cutover; please report it with this output:`);
  deps.stderr.write(`${stack}\n`);
  return json({
    code: "E_BUG",
    message: `unexpected failure, a bug in cutover: ${error instanceof Error ? error.message : String(error)} (the stack is on stderr)`,
    exitCode: 70,
  });
}

/** An error as `--json` prints it on stdout: `{"error": {...}}`, one line (the text goes to stderr too). */
export interface JsonError {
  code: string;
  message: string;
  details?: readonly string[];
  hint?: string;
  exitCode: number;
}

export function writeJsonError(deps: Pick<Deps, "stdout">, error: JsonError): void {
  deps.stdout.write(`${JSON.stringify({ error })}\n`);
}

/**
 * Routes what escapes every `await` (an unhandled rejection, an exception thrown from a callback) to the
 * same handler, so it prints one message and the process exits with that handler's code, never Node's
 * raw stack and exit 1 (which scripts read as "not yet").
 */
export function installErrorBoundary(deps: Deps): void {
  const fail = (error: unknown) => {
    process.exitCode = handleError(error, deps);
    process.exit();
  };
  process.on("unhandledRejection", fail);
  process.on("uncaughtException", fail);
}
