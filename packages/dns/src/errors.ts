import { CutoverError } from "@cutover/core";

/**
 * Errors thrown by @cutover/dns. They carry a `code`, the provider's name, and a message a user can act
 * on; they never contain credentials. They extend core's CutoverError.
 */
export class DnsError extends CutoverError {
  override name = "DnsError";
  readonly provider: string | undefined;
  readonly status: number | undefined;

  constructor(
    message: string,
    options: { code: string; provider?: string; status?: number; hint?: string; cause?: unknown },
  ) {
    super(options.provider ? `[${options.provider}] ${message}` : message, options);
    this.provider = options.provider;
    this.status = options.status;
  }
}

/** Replaces any of the given secrets in a text with [REDACTED]. */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("[REDACTED]");
  return out;
}
