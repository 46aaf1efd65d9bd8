import { setupServer } from "msw/node";
import type { RequestHandler } from "msw";

/** One request as a fake saw it, kept in its log in arrival order. */
export interface LoggedRequest {
  n: number;
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  /** The Authorization header as sent (tests check that the token never leaks elsewhere). */
  authorization: string | null;
  /** Time the request arrived and the time its answer was sent (the fake's clock, ms). */
  at: number;
  doneAt?: number;
  status?: number;
}

/**
 * A fault the fake injects instead of (or around) the normal answer:
 * - `status`: answer with this HTTP status (429 carries `Retry-After: retryAfter` seconds), nothing applied;
 * - `network`: the connection drops before the request is applied;
 * - `timeout`: no answer for `ms` (the client should give up first), then the connection drops, nothing applied;
 * - `lost`: the request IS applied, then the connection drops (the client cannot know it worked);
 * - `batch-fail`: a batch request fails at operation `at` (0-based) and is rolled back whole.
 */
export type Fault =
  | { kind: "status"; status: number; retryAfter?: number }
  | { kind: "network" }
  | { kind: "timeout"; ms: number }
  | { kind: "lost" }
  | { kind: "batch-fail"; at: number };

/** Decides, per request, whether to inject a fault. */
export type FaultPlan = (request: LoggedRequest) => Fault | undefined;

export interface FakeSwitches {
  /** Delay before every answer, in ms (real time). */
  latencyMs: number;
  /** Requests allowed per window before 429s; 0 disables the limit. */
  rateLimit: { requests: number; windowMs: number };
  faults: FaultPlan | undefined;
}

/** The parts both fakes share: request log, latency, faults queued or planned, a sliding-window rate limit. */
export class FakeBase {
  readonly log: LoggedRequest[] = [];
  readonly switches: FakeSwitches;
  /** The fake's clock (ms); tests may replace it. */
  now: () => number = () => Date.now();
  private readonly queued: Array<{ fault: Fault; match: (r: LoggedRequest) => boolean }> = [];
  private readonly windows = new Map<string, number[]>();

  constructor(switches: Partial<FakeSwitches> & Pick<FakeSwitches, "rateLimit">) {
    this.switches = { latencyMs: 0, faults: undefined, ...switches };
  }

  /** Inject `fault` into the next request matching `match` (default: any). */
  failNext(fault: Fault, match: (r: LoggedRequest) => boolean = () => true): this {
    this.queued.push({ fault, match });
    return this;
  }

  /** Requests that changed something (not GET). */
  writes(): LoggedRequest[] {
    return this.log.filter((r) => r.method !== "GET");
  }

  protected record(request: Request, body: unknown): LoggedRequest {
    const url = new URL(request.url);
    const entry: LoggedRequest = {
      n: this.log.length + 1,
      method: request.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      authorization: request.headers.get("authorization"),
      at: this.now(),
    };
    this.log.push(entry);
    return entry;
  }

  /** The fault for this request, if any: a queued one first, then the plan. */
  protected faultFor(entry: LoggedRequest): Fault | undefined {
    const i = this.queued.findIndex((q) => q.match(entry));
    if (i >= 0) return this.queued.splice(i, 1)[0]!.fault;
    return this.switches.faults?.(entry);
  }

  /** Seconds to wait when over the rate limit; undefined when the request may go. */
  protected overLimit(limit = this.switches.rateLimit, key = "all"): number | undefined {
    const { requests, windowMs } = limit;
    if (requests <= 0) return undefined;
    const t = this.now();
    let window = this.windows.get(key);
    if (!window) this.windows.set(key, (window = []));
    while (window.length > 0 && window[0]! <= t - windowMs) window.shift();
    if (window.length >= requests) return Math.max(1, Math.ceil((window[0]! + windowMs - t) / 1000));
    window.push(t);
    return undefined;
  }

  protected async latency(): Promise<void> {
    if (this.switches.latencyMs > 0) await new Promise((r) => setTimeout(r, this.switches.latencyMs));
  }
}

/** Starts msw with the given handlers; any request no handler answers fails the test. */
export function startFakeServer(...handlers: RequestHandler[]): ReturnType<typeof setupServer> {
  const server = setupServer(...handlers);
  server.listen({ onUnhandledRequest: "error" });
  return server;
}

export async function readJson(request: Request): Promise<unknown> {
  if (request.method === "GET" || request.method === "DELETE") return undefined;
  const text = await request.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { __invalidJson: text };
  }
}
