/**
 * The provider kit: one HTTP client for the fetch-based providers (PowerDNS, DigitalOcean, Hetzner). It does
 * what every HTTP provider needs once: a request budget, retries on 429/5xx/network errors/timeouts with
 * backoff that honours Retry-After, one hint per status, and errors that name the provider and status and
 * never carry the token (every text that leaves it goes through `redact`).
 */
import { DnsError, redact } from "../errors.js";
import { RateBudget, realSleep, retryAfterMs, type Sleep } from "./_http.js";

/** What a user should do about a failure, by status class; undefined = no hint. */
export interface KitHints {
  /** 401/403: which token and which permissions. */
  auth: string;
  /** 429 after the retries: the provider's limit. */
  rateLimit: string;
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
}

export interface KitResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** An HTTP provider's failure: `[provider] status reason while what`, with a hint and the status. */
export class ProviderHttpError extends DnsError {
  override name = "ProviderHttpError";
}

const codeFor = (status: number | undefined) =>
  status === 401 || status === 403
    ? "E_AUTH"
    : status === 404
      ? "E_NOT_FOUND"
      : status === 429
        ? "E_RATE_LIMIT"
        : "E_PROVIDER";

export class HttpKit {
  readonly provider: string;
  readonly baseUrl: string;
  /** Requests sent, retries included (the bench counts them). */
  calls = 0;
  private readonly options: HttpKitOptions;
  private readonly budget: RateBudget | undefined;
  private readonly sleep: Sleep;
  private readonly retries: number;
  private readonly timeoutMs: number;

  constructor(options: HttpKitOptions) {
    this.options = options;
    this.provider = options.provider;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.sleep = options.sleep ?? realSleep;
    this.retries = Math.max(0, options.retries ?? 4);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.budget = options.rate ? new RateBudget(options.rate.requests, options.rate.windowMs, this.sleep) : undefined;
  }

  private redact(text: string): string {
    return redact(text, [...this.options.secrets, ...Object.values(this.options.headers)]);
  }

  /** The error for a status (undefined = no answer) and a reason, with the hint a user can act on. */
  error(status: number | undefined, reason: string, what: string): ProviderHttpError {
    const { hints } = this.options;
    const hint =
      status === 401 || status === 403
        ? hints.auth
        : status === 429
          ? hints.rateLimit
          : status === undefined || status >= 500
            ? `${this.provider} did not answer cleanly; run the same command again (it only does what is missing)`
            : undefined;
    const text = this.redact(`${status ?? "network error:"} ${reason} while ${what}`);
    return new ProviderHttpError(text, {
      code: codeFor(status),
      provider: this.provider,
      ...(status === undefined ? {} : { status }),
      ...(hint ? { hint } : {}),
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
    for (let attempt = 0; ; attempt++) {
      let status: number | undefined;
      let reason: string;
      let wait: number | undefined;
      await this.budget?.take(req.signal);
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
      try {
        this.calls++;
        const res = await fetch(url, {
          method,
          headers: {
            accept: "application/json",
            ...(req.body === undefined ? {} : { "content-type": "application/json" }),
            ...this.options.headers,
          },
          ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
          signal,
        });
        const text = await res.text();
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
        status = res.status;
        reason =
          this.options.errorText?.(body) ?? (typeof body === "string" && body ? body.slice(0, 200) : res.statusText);
        wait = retryAfterMs(res.headers.get("retry-after"));
      } catch (error) {
        if (req.signal?.aborted) throw error;
        reason = timeout.aborted
          ? `no answer within ${this.timeoutMs} ms`
          : ((error as Error).message ?? String(error));
      }
      const retryable = status === undefined || status === 429 || status >= 500;
      if (!retryable || attempt >= this.retries) throw this.error(status, reason, req.what);
      await this.sleep(wait ?? Math.min(8000, 500 * 2 ** attempt), req.signal);
    }
  }
}

/** The message of a failed write, with its hint, for a `failed` outcome. */
export function failureText(error: unknown): string {
  if (error instanceof DnsError) return error.hint ? `${error.message}; ${error.hint}` : error.message;
  return error instanceof Error ? error.message : String(error);
}
