/**
 * Errors thrown by @cutover/dns. They carry a `code`, the provider's name, and a message a user can act
 * on; they never contain credentials. `userFacing` tells the CLI to print the message without a stack.
 */
export class DnsError extends Error {
  override name = "DnsError";
  readonly userFacing = true;
  readonly code: string;
  readonly provider: string | undefined;
  readonly status: number | undefined;
  readonly hint: string | undefined;

  constructor(
    message: string,
    options: { code: string; provider?: string; status?: number; hint?: string; cause?: unknown },
  ) {
    super(options.provider ? `[${options.provider}] ${message}` : message, {
      cause: options.cause,
    });
    this.code = options.code;
    this.provider = options.provider;
    this.status = options.status;
    this.hint = options.hint;
  }
}

/** Replaces any of the given secrets in a text with [REDACTED]. */
export function redact(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join("[REDACTED]");
  return out;
}
