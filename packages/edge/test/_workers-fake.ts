import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { http, HttpResponse, type RequestHandler } from "msw";
import type { WorkerMetadata } from "../src/index.js";
import { afterAll } from "vitest";
import { startFakeServer } from "@cutover/testkit/dns-fakes";
import { startWorker, type DnsFake, type Outbound, type RunningWorker } from "./_edge.js";

export interface UploadedScript {
  metadata: WorkerMetadata;
  /** Part name → {type, filename, text}. */
  parts: Record<string, { type: string; filename: string | undefined; text: string }>;
  migrationTag: string | undefined;
  subdomain: boolean;
  /** Where its Durable Object's SQLite storage lives: kept across uploads, as Cloudflare keeps it. */
  persistDir: string;
  worker?: RunningWorker;
  /** The previous version, still answering the next `staleLeft` requests (a gradual rollout). */
  stale?: { worker: RunningWorker; left: number };
}

/**
 * The limits the fake enforces, as https://developers.cloudflare.com/workers/platform/limits/ gives them
 * (Workers Free where the plans differ): 5 KB per environment variable (plain_text/json binding), 64
 * variables per Worker (counted over all bindings here), 3 MB gzipped per Worker (error 10027
 * `script_too_large`, "Your Worker exceeded the size limit of 3 MiB"), 64 MiB uncompressed. Error 10021 is
 * what the API answers when the Worker fails to start; the codes for the variable limits are ours.
 */
export const FAKE_LIMITS = {
  variableBytes: 5 * 1024,
  bindings: 64,
  gzipBytes: 3 * 1024 * 1024,
  uncompressedBytes: 64 * 1024 * 1024,
};

/**
 * A stateful fake of the Workers API for one account: script upload (multipart, checked the way the API
 * checks it: a JSON `metadata` part, the main module as a part of type application/javascript+module, a
 * migration tag precondition), the scripts list, the workers.dev subdomain, delete. An uploaded script
 * really runs: its workers.dev URL is answered by the uploaded module in miniflare with the bindings from
 * its metadata.
 */
export class WorkersApiFake {
  readonly baseUrl = "https://api.cloudflare.test/client/v4";
  readonly accountId = "0123456789abcdef0123456789abcdef";
  readonly subdomain = "example-account";
  readonly scripts = new Map<string, UploadedScript>();
  readonly log: Array<{ method: string; path: string; authorization: string | null }> = [];
  readonly token: string;
  readonly outbound: Outbound;
  /**
   * How many workers.dev requests after an upload the previous version still answers (Cloudflare rolls a
   * new version out gradually and may keep a Durable Object on the old code for minutes). Default 0.
   */
  staleRequests = 0;

  constructor(token: string, outbound: Outbound) {
    this.token = token;
    this.outbound = outbound;
  }

  async close(): Promise<void> {
    for (const s of this.scripts.values()) await this.dispose(s);
  }

  private async dispose(s: UploadedScript): Promise<void> {
    await s.stale?.worker.close();
    await s.worker?.close();
    rmSync(s.persistDir, { recursive: true, force: true });
  }

  private start(s: { metadata: WorkerMetadata; parts: UploadedScript["parts"] }, persistDir?: string) {
    return startWorker({
      code: s.parts[s.metadata.main_module]!.text,
      modules: Object.entries(s.parts)
        .filter(([n, p]) => n !== s.metadata.main_module && p.type === "application/javascript+module")
        .map(([name, p]) => ({ name, text: p.text })),
      bindings: Object.fromEntries(
        s.metadata.bindings.flatMap((b) =>
          b.type === "json" ? [[b.name, b.json]] : b.type === "plain_text" ? [[b.name, b.text]] : [],
        ),
      ),
      secrets: Object.fromEntries(
        s.metadata.bindings.flatMap((b) => (b.type === "secret_text" ? [[b.name, b.text]] : [])),
      ),
      outbound: this.outbound,
      ...(persistDir ? { persistDir } : {}),
    });
  }

  /** What Cloudflare refuses before running anything: the documented limits. */
  private overLimits(metadata: WorkerMetadata, parts: UploadedScript["parts"]) {
    for (const b of metadata.bindings) {
      const bytes =
        b.type === "json"
          ? Buffer.byteLength(JSON.stringify(b.json))
          : b.type === "plain_text"
            ? Buffer.byteLength(b.text)
            : 0;
      if (bytes > FAKE_LIMITS.variableBytes) {
        return this.fail(400, 10054, `binding ${b.name} is over the 5 KB limit of an environment variable`);
      }
    }
    if (metadata.bindings.length > FAKE_LIMITS.bindings) {
      return this.fail(400, 10055, `too many bindings (${metadata.bindings.length}); the limit is 64`);
    }
    const all = Buffer.from(
      Object.values(parts)
        .map((p) => p.text)
        .join(""),
    );
    if (all.byteLength > FAKE_LIMITS.uncompressedBytes || gzipSync(all).byteLength > FAKE_LIMITS.gzipBytes) {
      return this.fail(400, 10027, "Your Worker exceeded the size limit of 3 MiB.");
    }
    return undefined;
  }

  private fail(status: number, code: number, message: string) {
    return HttpResponse.json({ success: false, errors: [{ code, message }], messages: [], result: null }, { status });
  }

  private ok(result: unknown) {
    return HttpResponse.json({ success: true, errors: [], messages: [], result });
  }

  get handlers(): RequestHandler[] {
    const base = `${this.baseUrl}/accounts/:account`;
    const guard = (request: Request, account: string) => {
      const url = new URL(request.url);
      this.log.push({
        method: request.method,
        path: url.pathname,
        authorization: request.headers.get("authorization"),
      });
      if (request.headers.get("authorization") !== `Bearer ${this.token}`)
        return this.fail(401, 10000, "Authentication error");
      if (account !== this.accountId) return this.fail(404, 10007, "account not found");
      return undefined;
    };
    return [
      http.get(`${base}/workers/scripts`, ({ request, params }) => {
        return (
          guard(request, String(params.account)) ??
          this.ok([...this.scripts.entries()].map(([id, s]) => ({ id, migration_tag: s.migrationTag })))
        );
      }),
      http.put(`${base}/workers/scripts/:name`, async ({ request, params }) => {
        const denied = guard(request, String(params.account));
        if (denied) return denied;
        if (!(request.headers.get("content-type") ?? "").startsWith("multipart/form-data; boundary=")) {
          return this.fail(400, 10021, "expected multipart/form-data");
        }
        const form = await request.formData();
        const parts: UploadedScript["parts"] = {};
        for (const [name, value] of form.entries()) {
          if (typeof value === "string") {
            parts[name] = { type: "text/plain", filename: undefined, text: value };
          } else parts[name] = { type: value.type, filename: value.name, text: await value.text() };
        }
        const meta = parts.metadata;
        if (!meta || meta.type !== "application/json") return this.fail(400, 10021, "missing metadata part");
        const metadata = JSON.parse(meta.text) as WorkerMetadata;
        const main = parts[metadata.main_module];
        if (!main || main.type !== "application/javascript+module") {
          return this.fail(400, 10021, `main_module ${metadata.main_module} is not an uploaded module part`);
        }
        const refused = this.overLimits(metadata, parts);
        if (refused) return refused;
        const name = String(params.name);
        const previous = this.scripts.get(name);
        const m = metadata.migrations;
        if (m && (m.old_tag ?? undefined) !== previous?.migrationTag) {
          return this.fail(400, 10079, "migration tag precondition failed");
        }
        const migrationTag = m?.new_tag ?? previous?.migrationTag;
        for (const b of metadata.bindings) {
          if (
            b.type === "durable_object_namespace" &&
            !(migrationTag && (m?.new_sqlite_classes.includes(b.class_name) || previous))
          ) {
            return this.fail(400, 10061, `Durable Object class ${b.class_name} has no migration`);
          }
        }
        // Cloudflare starts the Worker on upload: one that throws at startup is refused, and the answer says
        // how long the startup took. Here: a throwaway instance of the upload, timed.
        const started = Date.now();
        let startupMs: number;
        try {
          const probe = await this.start({ metadata, parts });
          startupMs = Date.now() - started;
          await probe.close();
        } catch (error) {
          // Cloudflare names the uncaught error; workerd logs it to stderr and miniflare says only that it failed.
          return this.fail(400, 10021, `Uncaught error at startup: ${String((error as Error).message).split("\n")[0]}`);
        }
        const persistDir = previous?.persistDir ?? mkdtempSync(join(tmpdir(), `cutover-workers-fake-${process.pid}-`));
        const next: UploadedScript = {
          metadata,
          parts,
          migrationTag,
          subdomain: previous?.subdomain ?? false,
          persistDir,
        };
        await previous?.stale?.worker.close();
        if (previous?.worker && this.staleRequests > 0)
          next.stale = { worker: previous.worker, left: this.staleRequests };
        else await previous?.worker?.close();
        this.scripts.set(name, next);
        return this.ok({ id: name, etag: "e1", has_modules: true, startup_time_ms: startupMs });
      }),
      http.get(`${base}/workers/subdomain`, ({ request, params }) => {
        return guard(request, String(params.account)) ?? this.ok({ subdomain: this.subdomain });
      }),
      http.post(`${base}/workers/scripts/:name/subdomain`, async ({ request, params }) => {
        const denied = guard(request, String(params.account));
        if (denied) return denied;
        const s = this.scripts.get(String(params.name));
        if (!s) return this.fail(404, 10007, "This Worker does not exist on your account.");
        const body = (await request.json()) as { enabled?: boolean };
        s.subdomain = body.enabled === true;
        return this.ok({ enabled: s.subdomain, previews_enabled: false });
      }),
      http.delete(`${base}/workers/scripts/:name`, async ({ request, params }) => {
        const denied = guard(request, String(params.account));
        if (denied) return denied;
        const s = this.scripts.get(String(params.name));
        if (!s) return this.fail(404, 10007, "This Worker does not exist on your account.");
        if (new URL(request.url).searchParams.get("force") !== "true") {
          return this.fail(400, 10064, "this script has Durable Objects; pass force=true");
        }
        await this.dispose(s);
        this.scripts.delete(String(params.name));
        return this.ok(null);
      }),
      // The workers.dev route of an uploaded script with its subdomain on: run it.
      http.all(`https://:host.${this.subdomain}.workers.dev/*`, async ({ request, params }) => {
        const s = this.scripts.get(String(params.host));
        if (!s || !s.subdomain) return new HttpResponse("There is nothing here yet", { status: 404 });
        let worker: RunningWorker;
        if (s.stale && s.stale.left > 0) {
          s.stale.left -= 1;
          worker = s.stale.worker;
        } else {
          if (s.stale) {
            // The rollout is over: the old version stops, the new one opens the same storage.
            await s.stale.worker.close();
            delete s.stale;
          }
          s.worker ??= await this.start(s, s.persistDir);
          worker = s.worker;
        }
        const path = new URL(request.url).pathname;
        const auth = request.headers.get("authorization");
        const res = await worker.mf.dispatchFetch(`https://worker.test${path}`, {
          method: request.method,
          headers: auth ? { authorization: auth } : {},
        });
        return new HttpResponse(await res.text(), {
          status: res.status,
          headers: { "content-type": "application/json" },
        });
      }),
    ];
  }
}

/**
 * The deploy tests' world, closed after the file's tests: msw for the Node side (the admin's machine), the
 * Workers API fake that runs each upload in miniflare, and the Worker's outbound answered by `dns` (and
 * `doh`, when given). `api` is what deployEdge takes to reach the Workers API fake.
 */
export function useWorkersApi(deployToken: string, dns: DnsFake, options: { doh?: RequestHandler } = {}) {
  const server = startFakeServer();
  const outbound: Outbound = {
    handlers: [...dns.handlers, ...(options.doh ? [options.doh] : [])],
    unhandled: [],
    seen: [],
  };
  const workers = new WorkersApiFake(deployToken, outbound);
  server.use(...dns.handlers, ...workers.handlers);
  afterAll(async () => {
    await workers.close();
    server.close();
  });
  return {
    server,
    outbound,
    workers,
    api: { accountId: workers.accountId, apiToken: deployToken, baseUrl: workers.baseUrl },
  };
}
