import { CutoverError } from "@cutover/core";

/**
 * Errors thrown by @cutover/edge: a `code`, a message a user can act on and an optional hint. They never
 * contain a token; they extend core's CutoverError.
 */
export class EdgeError extends CutoverError {
  override name = "EdgeError";
  readonly status: number | undefined;

  constructor(message: string, options: { code: string; status?: number; hint?: string; cause?: unknown }) {
    super(message, options);
    this.status = options.status;
  }
}
