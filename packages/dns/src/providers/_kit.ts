/**
 * The provider kit, what every provider needs once: one retry policy (`withRetries`: 429, 5xx, network
 * errors and timeouts, with backoff that honours Retry-After), one hint per kind of failure (`hintFor`), and
 * errors that name the provider and status and never carry a secret (`providerError` redacts at the
 * boundary). `HttpKit` is the HTTP client built on them that every HTTP provider speaks through (Cloudflare,
 * Linode, PowerDNS, DigitalOcean, Hetzner), with a request budget; Route 53 keeps the AWS SDK (SigV4, its
 * XML) and puts the SDK's exceptions through the same three functions.
 */
import { DnsError, redact } from "../errors.js";
import { RateBudget, realSleep, retryAfterMs, type Sleep } from "./_http.js";

/** What a user should do about a failure, by status class; undefined = no hint. */
export interface KitHints {
  /** 401/403: which token and which permissions. */
  auth: string;
  /** 429 after the retries: the provider's limit. */
  rateLimit: string;
  /** The provider's name in prose ("Cloudflare"); default its config name. */
  label?: string;
}

export interface HttpKitOptions {
  provider: string;
  baseUrl: string;
  /** Headers sent with every request (the credential); their values are redacted from every error. */
  headers: Record<string, string>;
  secrets: ReadonlyArray<string | undefined>;
  hints: KitHints;
  /** Requests per window this client keeps under (the provider's published limit). */
  rate?: { requests: number; windowMs: number };
  retries?: number;
  timeoutMs?: number;
  sleep?: Sleep;
  /** The provider's error text from an error answer's body (its envelope), if any. */
  errorText?: (body: unknown) => string | undefined;
}

export interface KitRequest {
  /** What the request does, for errors: "reading the records of example.com". */
  what: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  signal?: AbortSignal | undefined;
  /** Statuses that are answers, not failures (e.g. 404 when asking whether a zone exists). */
  accept?: readonly number[];
  /** Headers of this request only (Linode's X-Filter). */
  headers?: Record<string, string>;
  /** Budgets this request takes from besides the client's (a limit on some endpoints only). */
  budgets?: readonly RateBudget[];
}

export interface KitResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** A provider's failure: `[provider] status reason while what`, with a hint and the status. */
export class ProviderHttpError extends DnsError {
  override name = "ProviderHttpError";
}

/**
 * One failed attempt of a provider call, however the provider's client reported it (an HTTP answer, an
 * SDK's exception, a dropped connection): the one shape the retry policy, the hints and the errors read.
 */
export interface Failure {
  /** The HTTP status; undefined = no answer (network error, timeout, missing credentials). */
  status: number | undefined;
  /** The provider's own words (its error envelope) or the client's; redacted before it leaves the kit. */
  reason: string;
  /** What Retry-After asked for, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** Refused for its credentials although there is no 401/403 (an SDK found none). */
  auth?: boolean;
  /** Throttled although the status is not 429 (Route 53 answers 400 Throttling). */
  throttled?: boolean;
}

type FailureClass = "auth" | "rate-limit" | "transient" | "not-found" | "other";

function classOf(f: Failure): FailureClass {
  if (f.auth || f.status === 401 || f.status === 403) return "auth";
  if (f.throttled || f.status === 429) return "rate-limit";
  if (f.status === undefined || f.status >= 500) return "transient";
  return f.status === 404 ? "not-found" : "other";
}

/** The one retry policy: how often, and how long to wait before each new attempt. */
export interface RetryPolicy {
  /** Attempts after the first. Default 4. */
  retries: number;
  sleep: Sleep;
}

/** Retried: throttling, 5xx, no answer. Never a refused credential or a request the provider rejected. */
export const isRetryable = (f: Failure): boolean => {
  const c = classOf(f);
  return c === "rate-limit" || c === "transient";
};

/** The wait before attempt `attempt + 1`: what Retry-After asked, else 0.5 s doubling up to 8 s. */
export const backoffMs = (f: Failure, attempt: number): number => f.retryAfterMs ?? Math.min(8000, 500 * 2 ** attempt);

/**
 * Runs one provider call under the retry policy: `attempt` either returns or throws; `describe` turns what it
 * threw into a Failure (or returns undefined for an error that is already final, rethrown as it is).
 * `fail` builds the error thrown when the call is given up.
 */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy & {
    signal?: AbortSignal | undefined;
    describe: (error: unknown) => Failure | undefined;
    fail: (f: Failure) => Error;
  },
): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      const f = policy.describe(error);
      if (!f) throw error;
      if (!isRetryable(f) || i >= policy.retries || policy.signal?.aborted) throw policy.fail(f);
      await policy.sleep(backoffMs(f, i), policy.signal);
    }
  }
}

/** The hint for a failure, the same words for every provider but the credential and limit it names. */
export function hintFor(provider: string, f: Failure, hints: KitHints): string | undefined {
  switch (classOf(f)) {
    case "auth":
      return hints.auth;
    case "rate-limit":
      return hints.rateLimit;
    case "transient":
      return `${hints.label ?? provider} did not answer cleanly; run the same command again (it only does what is missing)`;
    default:
      return undefined;
  }
}

const CODES: Record<FailureClass, string> = {
  auth: "E_AUTH",
  "rate-limit": "E_RATE_LIMIT",
  transient: "E_PROVIDER",
  "not-found": "E_NOT_FOUND",
  other: "E_PROVIDER",
};

/**
 * The error a provider throws for a failure, redacted at the boundary: no secret (a token, a header's value)
 * survives in its message, whatever the provider's answer or the client's exception echoed back.
 */
export function providerError(
  provider: string,
  f: Failure,
  what: string,
  options: { hints: KitHints; secrets: ReadonlyArray<string | undefined>; where?: string | undefined },
): ProviderHttpError {
  const hint = hintFor(provider, f, options.hints);
  const head = f.status ?? (f.auth ? "no credentials:" : "network error:");
  // Without an answer, say where it was sent: a mistyped endpoint is the usual cause.
  const where = f.status === undefined && !f.auth && options.where ? ` (${options.where})` : "";
  const text = redact(`${head} ${f.reason} while ${what}${where}`, options.secrets);
  return new ProviderHttpError(text, {
    code: CODES[classOf(f)],
    provider,
    ...(f.status === undefined ? {} : { status: f.status }),
    ...(hint ? { hint: redact(hint, options.secrets) } : {}),
  });
}

export class HttpKit {
  readonly provider: string;
  readonly baseUrl: string;
  /** Requests sent, retries included (the bench counts them). */
  calls = 0;
  private readonly options: HttpKitOptions;
  private readonly budget: RateBudget | undefined;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly secrets: ReadonlyArray<string | undefined>;

  constructor(options: HttpKitOptions) {
    this.options = options;
    this.provider = options.provider;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const sleep = options.sleep ?? realSleep;
    this.policy = { retries: Math.max(0, options.retries ?? 4), sleep };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.budget = options.rate ? new RateBudget(options.rate.requests, options.rate.windowMs, sleep) : undefined;
    this.secrets = [...options.secrets, ...Object.values(options.headers)];
  }

  /** A budget of this client's clock, for a limit on some requests only (Linode's collections). */
  budgetOf(requests: number, windowMs: number): RateBudget {
    return new RateBudget(requests, windowMs, this.policy.sleep);
  }

  /** The error for a failure of this provider, with its hint, redacted. */
  error(f: Failure, what: string): ProviderHttpError {
    return providerError(this.provider, f, what, {
      hints: this.options.hints,
      secrets: this.secrets,
      where: this.baseUrl,
    });
  }

  url(path: string, query?: KitRequest["query"]): string {
    const u = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  /** One API call: JSON in and out, retried on 429 (after Retry-After), 5xx, timeouts and dropped connections. */
  async request<T>(method: string, path: string, req: KitRequest): Promise<KitResponse<T>> {
    const url = this.url(path, req.query);
    return withRetries(() => this.attempt<T>(method, url, req), {
      ...this.policy,
      signal: req.signal,
      describe: (error) => (error instanceof AttemptFailed ? error.failure : undefined),
      fail: (f) => this.error(f, req.what),
    });
  }

  private async attempt<T>(method: string, url: string, req: KitRequest): Promise<KitResponse<T>> {
    for (const b of req.budgets ?? []) await b.take(req.signal);
    await this.budget?.take(req.signal);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      this.calls++;
      res = await fetch(url, {
        method,
        headers: {
          accept: "application/json",
          ...(req.body === undefined ? {} : { "content-type": "application/json" }),
          ...req.headers,
          ...this.options.headers,
        },
        ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
        signal,
      });
      text = await res.text();
    } catch (error) {
      if (req.signal?.aborted) throw error;
      const reason = timeout.aborted
        ? `no answer within ${this.timeoutMs} ms`
        : ((error as Error).message ?? String(error));
      throw new AttemptFailed({ status: undefined, reason });
    }
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (res.ok || req.accept?.includes(res.status))
      return { status: res.status, body: body as T, headers: res.headers };
    throw new AttemptFailed({
      status: res.status,
      reason:
        this.options.errorText?.(body) ?? (typeof body === "string" && body ? body.slice(0, 200) : res.statusText),
      retryAfterMs: retryAfterMs(res.headers.get("retry-after")),
    });
  }
}

/** One attempt's failure inside the kit, before the policy decides (never leaves the kit). */
class AttemptFailed extends Error {
  readonly failure: Failure;
  constructor(failure: Failure) {
    super(failure.reason);
    this.failure = failure;
  }
}

/** The message of a failed write, with its hint, for a `failed` outcome. */
export function failureText(error: unknown): string {
  if (error instanceof DnsError) return error.hint ? `${error.message}; ${error.hint}` : error.message;
  return error instanceof Error ? error.message : String(error);
}
