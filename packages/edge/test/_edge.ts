import { readFile } from "node:fs/promises";
import { createCloudflareProvider } from "@cutover/dns/cloudflare";
import * as dnsPacket from "dns-packet";
import { Miniflare, Response as MfResponse } from "miniflare";
import { getResponse, http, HttpResponse, type RequestHandler } from "msw";
import { afterAll, afterEach } from "vitest";
import {
  EDGE_CLASS_NAME,
  EDGE_COMPATIBILITY_DATE,
  EDGE_COMPATIBILITY_FLAGS,
  PLAN_MODULE,
  planModuleText,
  workerBundlePath,
  type EdgePlanData,
} from "../src/index.js";
import type { EdgeStatusBody } from "../src/worker/schedule.js";
import { startFakeServer } from "@cutover/testkit/dns-fakes";

export const DOH_URL = "https://doh.test/dns-query";

/** Outbound requests no handler answered (each test checks there are none). */
export interface Outbound {
  handlers: RequestHandler[];
  unhandled: string[];
  seen: string[];
}

/** Answers the Worker's outbound fetch from msw handlers (the same stateful fakes the DNS tests use). */
export function outboundFrom(out: Outbound) {
  return async (request: { url: string; method: string; headers: Headers; arrayBuffer(): Promise<ArrayBuffer> }) => {
    const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
    const req = new Request(request.url, { method: request.method, headers: request.headers, body });
    out.seen.push(`${request.method} ${request.url}`);
    const res = await getResponse(out.handlers, req);
    if (!res) {
      out.unhandled.push(`${request.method} ${request.url}`);
      return new MfResponse(`no fake answers ${request.method} ${request.url}`, { status: 502 });
    }
    return new MfResponse(await res.arrayBuffer(), { status: res.status, headers: res.headers as never });
  };
}

/**
 * A DoH resolver (RFC 8484, POST application/dns-message) that answers A/AAAA from `lookup`, which the
 * tests point at a provider fake's current records.
 */
export function dohHandler(lookup: (name: string, type: string) => string[], url = DOH_URL): RequestHandler {
  return http.post(url, async ({ request }) => {
    const query = dnsPacket.decode(Buffer.from(await request.arrayBuffer()));
    const q = query.questions![0]!;
    const answers = lookup(q.name.toLowerCase(), q.type).map((data) => ({
      type: q.type as "A",
      name: q.name,
      ttl: 60,
      class: "IN" as const,
      data,
    }));
    const reply = dnsPacket.encode({
      type: "response",
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: query.questions,
      answers,
    });
    return new HttpResponse(reply, { headers: { "content-type": "application/dns-message" } });
  });
}

export interface RunningWorker {
  mf: Miniflare;
  call(method: string, path: string, token?: string | null): Promise<{ status: number; body: unknown }>;
  status(): Promise<EdgeStatusBody>;
  close(): Promise<void>;
}

/**
 * The built Worker (dist/worker.js) in miniflare 3 with its plan module and the bindings the deploy would
 * give it. With `persistDir` the Durable Object's storage outlives this instance (a redeploy keeps it).
 */
export async function startWorker(options: {
  data?: EdgePlanData;
  /** The modules as uploaded (plan.js), instead of `data`. */
  modules?: Array<{ name: string; text: string }>;
  bindings?: Record<string, unknown>;
  secrets: Record<string, string>;
  outbound: Outbound;
  code?: string;
  persistDir?: string;
}): Promise<RunningWorker> {
  const code = options.code ?? (await readFile(workerBundlePath(), "utf8"));
  const modules = options.modules ?? (options.data ? [{ name: PLAN_MODULE, text: planModuleText(options.data) }] : []);
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: "worker.js", contents: code },
      ...modules.map((m) => ({ type: "ESModule" as const, path: m.name, contents: m.text })),
    ],
    compatibilityDate: EDGE_COMPATIBILITY_DATE,
    compatibilityFlags: [...EDGE_COMPATIBILITY_FLAGS],
    bindings: { ...(options.bindings as Record<string, never>), ...options.secrets },
    durableObjects: { SCHEDULE: { className: EDGE_CLASS_NAME, useSQLite: true } },
    ...(options.persistDir ? { durableObjectsPersist: options.persistDir } : {}),
    outboundService: outboundFrom(options.outbound) as never,
  });
  await mf.ready;
  const token = options.secrets.CONTROL_TOKEN;
  const call = async (method: string, path: string, t: string | null = token ?? null) => {
    const res = await mf.dispatchFetch(`https://worker.test${path}`, {
      method,
      headers: t === null ? {} : { authorization: `Bearer ${t}` },
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as unknown };
  };
  return {
    mf,
    call,
    async status() {
      const r = await call("GET", "/status");
      if (r.status !== 200) throw new Error(`status answered ${r.status}: ${JSON.stringify(r.body)}`);
      return r.body as EdgeStatusBody;
    },
    close: () => mf.dispose(),
  };
}

/** Polls the status until `done` says so (bounded: 30 s). */
export async function waitFor(
  w: RunningWorker,
  done: (s: EdgeStatusBody) => boolean,
  limitMs = 30_000,
): Promise<EdgeStatusBody> {
  const end = Date.now() + limitMs;
  for (;;) {
    const s = await w.status();
    if (done(s)) return s;
    if (Date.now() > end) throw new Error(`timed out; last status: ${JSON.stringify(s, null, 2).slice(0, 4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What a DNS fake offers the Worker's world: its msw handlers and its current records. */
export interface DnsFake {
  handlers: RequestHandler[];
  list(zone: string): Array<{ name: string; type: string; content: string }>;
}

/** The DoH resolver answering from `fake`'s current records of `zone` (what a resolver sees after a change). */
export function dohFrom(fake: DnsFake, zone: string, url = DOH_URL): RequestHandler {
  return dohHandler(
    (name, type) =>
      fake
        .list(zone)
        .filter((r) => r.name === name && r.type === type)
        .map((r) => r.content),
    url,
  );
}

/**
 * The Worker tests' world: msw for the Node side (closed after the file's tests) and `startWorker`, whose
 * Worker is disposed after each test.
 */
export function useWorkers() {
  const server = startFakeServer();
  let running: RunningWorker | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  afterAll(() => server.close());
  return {
    server,
    async startWorker(options: Parameters<typeof startWorker>[0]): Promise<RunningWorker> {
      running = await startWorker(options);
      return running;
    },
  };
}

/** The Cloudflare provider as the admin's machine builds it from a plan, pointed at `fake` with `token`. */
export function cloudflareOn(fake: { baseUrl: string }, zones: string[], token: string) {
  return createCloudflareProvider({
    provider: "cloudflare",
    zones,
    apiUrl: fake.baseUrl,
    options: {},
    baseDir: "/",
    env: { CLOUDFLARE_API_TOKEN: token },
  });
}
