/** The kit's small parts: sleeping, a request budget, Retry-After, TXT unquoting (see _kit.ts). */

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    // The listener goes with the wait: a run's signal outlives many waits (each retry of each request),
    // and listeners left on it piled up (Node warned of a leak past 10 on a run with many 429/5xx).
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/**
 * Keeps a client under `requests` per `windowMs` (sliding window): `take()` waits until a request may go.
 * Cloudflare blocks a user for 5 minutes past 1200 requests per 5 minutes, so waiting here is far cheaper.
 */
export class RateBudget {
  private readonly sent: number[] = [];
  readonly requests: number;
  readonly windowMs: number;
  private readonly sleep: Sleep;
  private readonly now: () => number;

  constructor(requests: number, windowMs: number, sleep: Sleep = realSleep, now: () => number = Date.now) {
    this.requests = requests;
    this.windowMs = windowMs;
    this.sleep = sleep;
    this.now = now;
  }

  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const t = this.now();
      while (this.sent.length > 0 && this.sent[0]! <= t - this.windowMs) this.sent.shift();
      if (this.sent.length < this.requests) {
        this.sent.push(t);
        return;
      }
      await this.sleep(this.sent[0]! + this.windowMs - t + 1, signal);
    }
  }
}

/** Milliseconds a 429/503 answer asks us to wait (Retry-After in seconds or as a date), else undefined. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Text of TXT content without the quotes a provider may wrap it in (`"a" "b"` → `ab`). */
export function unquoteTxt(content: string): string {
  const t = content.trim();
  if (!t.startsWith('"')) return content;
  const parts = [...t.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(.)/g, "$1"));
  return parts.length > 0 ? parts.join("") : content;
}
