/**
 * Errors thrown by @cutover/relay. They carry a `code` and a message a user can act on; `userFacing` tells
 * the CLI to print the message without a stack. They never contain key material.
 */
export class RelayError extends Error {
  override name = "RelayError";
  readonly userFacing = true;
  readonly code: string;
  readonly hint: string | undefined;

  constructor(message: string, options: { code: string; hint?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.hint = options.hint;
  }
}
