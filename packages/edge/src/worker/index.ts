// Must come first: it wraps fetch before any SDK module captures it.
import "./_trace.js";
import type { DurableObjectNamespace } from "./_runtime.js";
import plan from "./plan.js";
import { CutoverSchedule, json } from "./schedule.js";
import type { EdgeEnv } from "./steps.js";

export { CutoverSchedule };

interface WorkerEnv extends EdgeEnv {
  SCHEDULE: DurableObjectNamespace;
}

/** Compares without leaking through timing where the strings differ. */
function sameToken(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % Math.max(1, a.length)] ?? 0) ^ b[i]!;
  return diff === 0;
}

const ROUTES = new Set(["GET /status", "POST /arm", "POST /tick", "POST /cancel"]);

/**
 * The Worker's front door: every request needs `Authorization: Bearer <control token>` (401 otherwise),
 * then goes to the plan's one Durable Object. Routes: GET /status, POST /arm, POST /tick (run what is
 * due now), POST /cancel (drop every pending step and the alarm).
 */
export default {
  async fetch(request: Request, env: WorkerEnv): Promise<Response> {
    if (!env.CONTROL_TOKEN) return json({ error: "this Worker has no CONTROL_TOKEN binding" }, 500);
    const auth = request.headers.get("authorization") ?? "";
    const m = /^Bearer (.+)$/.exec(auth);
    if (!m || !sameToken(m[1]!, env.CONTROL_TOKEN)) {
      return json({ error: "unauthorized: this Worker answers only with its control token" }, 401, {
        "www-authenticate": 'Bearer realm="cutover"',
      });
    }
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    if (!ROUTES.has(route)) return json({ error: `no route ${route}` }, 404);
    const stub = env.SCHEDULE.get(env.SCHEDULE.idFromName(plan.name));
    return stub.fetch(new Request(`https://schedule${url.pathname}`, { method: request.method }));
  },
};
