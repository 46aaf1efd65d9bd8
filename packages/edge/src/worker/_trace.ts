/**
 * Records every outbound API call the providers make (method, host and path, status, duration) so each
 * step's log shows its retries. Imported first by the Worker's entry, before any SDK captures `fetch`.
 * Query strings are dropped and headers are never read: no token can reach the log this way.
 */
export interface TraceEntry {
  at: number;
  method: string;
  url: string;
  status: number | "network error";
  ms: number;
}

let sink: TraceEntry[] | undefined;
const realFetch = globalThis.fetch.bind(globalThis);

/**
 * The fetch before tracing, for notifications: a webhook's path may hold its token, and a delivery running
 * beside a step must not land in that step's list of calls.
 */
export const untracedFetch: typeof fetch = (input, init) => realFetch(input, init);

globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
  const started = Date.now();
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request ? request.url : String(input));
  const method = (init?.method ?? request?.method ?? "GET").toUpperCase();
  const entry = (status: TraceEntry["status"]): TraceEntry => ({
    at: started,
    method,
    url: `${url.host}${url.pathname}`,
    status,
    ms: Date.now() - started,
  });
  try {
    const res = await realFetch(input, init);
    sink?.push(entry(res.status));
    return res;
  } catch (error) {
    sink?.push(entry("network error"));
    throw error;
  }
};

/** Runs `fn` and returns the calls it made. Steps run one at a time in the Durable Object. */
export async function traced<T>(fn: () => Promise<T>): Promise<{ value: T; calls: TraceEntry[] }> {
  const calls: TraceEntry[] = [];
  sink = calls;
  try {
    return { value: await fn(), calls };
  } finally {
    sink = undefined;
  }
}
