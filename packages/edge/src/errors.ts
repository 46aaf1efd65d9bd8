/**
 * Errors thrown by @cutover/edge: a `code`, a message a user can act on and an optional hint. They never
 * contain a token; `userFacing` tells the CLI to print them without a stack.
 */
export class EdgeError extends Error {
  override name = "EdgeError";
  readonly userFacing = true;
  readonly code: string;
  readonly status: number | undefined;
  readonly hint: string | undefined;

  constructor(message: string, options: { code: string; status?: number; hint?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.code = options.code;
    this.status = options.status;
    this.hint = options.hint;
  }
}
