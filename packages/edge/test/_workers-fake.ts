import { http, HttpResponse, type RequestHandler } from "msw";
import type { WorkerMetadata } from "../src/index.js";
import { startWorker, type Outbound, type RunningWorker } from "./_edge.js";

export interface UploadedScript {
  metadata: WorkerMetadata;
  /** Part name → {type, filename, text}. */
  parts: Record<string, { type: string; filename: string | undefined; text: string }>;
  migrationTag: string | undefined;
  subdomain: boolean;
  worker?: RunningWorker;
}

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

  constructor(token: string, outbound: Outbound) {
    this.token = token;
    this.outbound = outbound;
  }

  async close(): Promise<void> {
    for (const s of this.scripts.values()) await s.worker?.close();
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
        await previous?.worker?.close();
        this.scripts.set(name, { metadata, parts, migrationTag, subdomain: previous?.subdomain ?? false });
        return this.ok({ id: name, etag: "e1", has_modules: true });
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
        await s.worker?.close();
        this.scripts.delete(String(params.name));
        return this.ok(null);
      }),
      // The workers.dev route of an uploaded script with its subdomain on: run it.
      http.all(`https://:host.${this.subdomain}.workers.dev/*`, async ({ request, params }) => {
        const s = this.scripts.get(String(params.host));
        if (!s || !s.subdomain) return new HttpResponse("There is nothing here yet", { status: 404 });
        s.worker ??= await startWorker({
          code: s.parts[s.metadata.main_module]!.text,
          data: (s.metadata.bindings.find((b) => b.type === "json" && b.name === "PLAN") as unknown as { json: never })
            .json,
          secrets: Object.fromEntries(
            s.metadata.bindings.flatMap((b) => (b.type === "secret_text" ? [[b.name, b.text]] : [])),
          ),
          outbound: this.outbound,
        });
        const path = new URL(request.url).pathname;
        const auth = request.headers.get("authorization");
        const res = await s.worker.mf.dispatchFetch(`https://worker.test${path}`, {
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
