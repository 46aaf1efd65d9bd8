/**
 * The one error base of cutover. Every package's errors extend it: a stable `code` a script can test, a
 * message a user can act on, an optional `hint` (what to do), and the `cause`. `userFacing` tells the CLI to
 * print the message (and hint) without a stack, with exit code 2; anything else that reaches the CLI's
 * top is a bug (exit 70). Messages never contain a credential: providers redact at their boundary.
 */
export class CutoverError extends Error {
  override name = "CutoverError";
  readonly userFacing = true;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(message: string, options: { code: string; hint?: string | undefined; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
  }
}

/**
 * Whether an error is one of ours meant for the user. Structural, not `instanceof`: the relay runs from its
 * own bundle and the Worker from another, so a class can exist twice in one process.
 */
export function isCutoverError(error: unknown): error is CutoverError {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === "string" &&
    (error as { userFacing?: unknown }).userFacing === true
  );
}
