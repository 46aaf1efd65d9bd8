import { isCutoverError } from "@cutover/core";

/**
 * A mistake the user can fix: printed as one clear line (or a list of lines), exit code 1, no stack.
 * Everything else that reaches `handleError` is a bug and prints its stack.
 */
export class UserError extends Error {
  override name = "UserError";
  readonly code: string;
  readonly exitCode: number;
  /** Extra lines printed under the message (e.g. every problem in a plan file). */
  readonly details: readonly string[];

  constructor(
    message: string,
    options: {
      code?: string;
      exitCode?: number;
      details?: readonly string[];
      cause?: unknown;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? "E_USER";
    this.exitCode = options.exitCode ?? 1;
    this.details = options.details ?? [];
  }
}

/** Bad usage: an option or argument the command cannot take as given. Exit code 2, as documented. */
export class UsageError extends UserError {
  override name = "UsageError";
  constructor(message: string, options: { details?: readonly string[]; cause?: unknown } = {}) {
    super(message, { ...options, code: "E_USAGE", exitCode: 2 });
  }
}

/** Errors from our libraries that carry a `code` and a user-facing message are user errors too. */
export const isUserFacing = isCutoverError;

/** Thrown by commands that want a specific exit code without another message (e.g. "not yet", 130). */
export class ExitCode extends Error {
  override name = "ExitCode";
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.exitCode = exitCode;
  }
}
