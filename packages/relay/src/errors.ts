import { CutoverError } from "@cutover/core";

/**
 * Errors thrown by @cutover/relay. They carry a `code` and a message a user can act on; they extend
 * core's CutoverError (bundled into the relay's single file). They never contain key material.
 */
export class RelayError extends CutoverError {
  override name = "RelayError";
}
