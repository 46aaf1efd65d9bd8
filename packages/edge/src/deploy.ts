import { randomBytes } from "node:crypto";
import { redact } from "@cutover/dns";
import { EDGE_MIGRATION_TAG, type EdgeDeployment, type WorkerMetadata, type WorkerModule } from "./edge-plan.js";
import { EdgeError } from "./errors.js";
import { checkEdgeUpload, type EdgeUploadSizes } from "./limits.js";
import type { EdgeStatusBody } from "./worker/schedule.js";

export const CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4";

/** How to reach the Workers API of an account. The token stays on this machine. */
export interface EdgeApiOptions {
  accountId: string;
  /** A token with Account › Workers Scripts › Edit; never uploaded. */
  apiToken: string;
  baseUrl?: string | undefined;
  fetch?: typeof fetch;
}

/**
 * After an upload Cloudflare rolls the new version out gradually and may keep the Durable Object on the
 * old code for minutes; the old version does not know a new control token. For this long after an
 * upload a 401 is taken for that and the call is tried again (every 2 s, for at most `UNAUTHORIZED_RETRY_MS`).
 */
export const ROLLOUT_WINDOW_MS = 10 * 60_000;
export const UNAUTHORIZED_RETRY_MS = 60_000;

/** How to reach a deployed Worker: its URL and its control token. */
export interface EdgeHandle {
  scriptName: string;
  url: string;
  controlToken: string;
  fetch?: typeof fetch;
  /** When the Worker was last uploaded (ms): within `ROLLOUT_WINDOW_MS` of it, a 401 is retried. */
  uploadedAt?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DeployEdgeOptions extends EdgeApiOptions {
  deployment: EdgeDeployment;
  /** Secret values by binding name, e.g. CLOUDFLARE_API_TOKEN; CONTROL_TOKEN is made here when absent. */
  secrets: Record<string, string | undefined>;
  /** The Worker module (dist/worker.js). */
  code: string;
  /** workers.dev URL override (tests); default https://NAME.SUBDOMAIN.workers.dev. */
  workerUrl?: string;
  /** A new workers.dev route may take a moment to answer: tries to arm (default 30, 2 s apart). */
  armAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /**
   * Called once the upload is accepted and before the Worker is called: the place to save the handle
   * (its control token) so that a failure from here on cannot lock the admin out.
   */
  onUploaded?: (handle: EdgeHandle) => Promise<void>;
}

export interface DeployEdgeResult {
  handle: EdgeHandle;
  /** Whether this upload created the Durable Object class (first deploy) or kept it. */
  migration: "created" | "kept";
  status: EdgeStatusBody;
  /** What counted against Cloudflare's limits. */
  sizes: EdgeUploadSizes;
  /** The Worker's startup time as Cloudflare measured it on upload (`startup_time_ms`), when it says. */
  startupTimeMs: number | undefined;
}

/** The metadata as uploaded, with secret values replaced, for --dry-run and logs. */
export function describeMetadata(metadata: WorkerMetadata): WorkerMetadata {
  return {
    ...metadata,
    bindings: metadata.bindings.map((b) => (b.type === "secret_text" ? { ...b, text: "(secret)" } : b)),
  };
}

interface Envelope<T> {
  success: boolean;
  errors?: Array<{ code?: number; message?: string }>;
  result: T;
}

function apiBase(o: EdgeApiOptions): string {
  return (o.baseUrl ?? CLOUDFLARE_API_URL).replace(/\/$/, "");
}

/** One Workers API call: envelope checked, errors turned into EdgeErrors with no token in them. */
async function api<T>(
  o: EdgeApiOptions,
  method: string,
  path: string,
  body?: string | FormData,
  what = `${method} ${path}`,
  secrets: Array<string | undefined> = [],
): Promise<T> {
  const f = o.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = { authorization: `Bearer ${o.apiToken}` };
  if (typeof body === "string") headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await f(`${apiBase(o)}/accounts/${encodeURIComponent(o.accountId)}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
    });
  } catch (cause) {
    throw new EdgeError(
      `network error while ${what}: ${redact(String((cause as Error).message), [o.apiToken, ...secrets])}`,
      {
        code: "E_EDGE_NETWORK",
        hint: "check the connection to api.cloudflare.com and run the same command again",
      },
    );
  }
  let parsed: Envelope<T> | undefined;
  try {
    parsed = (await res.json()) as Envelope<T>;
  } catch {
    parsed = undefined;
  }
  if (!res.ok || !parsed?.success) {
    const reasons = (parsed?.errors ?? []).map((e) => `${e.message ?? ""}${e.code ? ` (${e.code})` : ""}`).join("; ");
    const codes = new Set((parsed?.errors ?? []).map((e) => e.code));
    const hint =
      res.status === 401 || res.status === 403
        ? "the deploy token needs Account › Workers Scripts › Edit on this account (see docs/edge.md)"
        : res.status === 404
          ? "check the account id (CLOUDFLARE_ACCOUNT_ID or --account-id)"
          : codes.has(10027)
            ? "the Worker is over Cloudflare's size limit; `cutover schedule --with edge --dry-run` shows the sizes"
            : codes.has(10021)
              ? "Cloudflare could not start the Worker (a startup error or over its 1 s startup time); nothing was deployed"
              : undefined;
    throw new EdgeError(
      `[cloudflare] ${res.status} ${redact(reasons || res.statusText, [o.apiToken, ...secrets])} while ${what}`,
      {
        code:
          res.status === 401 || res.status === 403
            ? "E_EDGE_AUTH"
            : res.status === 404
              ? "E_EDGE_NOT_FOUND"
              : "E_EDGE_API",
        status: res.status,
        ...(hint ? { hint } : {}),
      },
    );
  }
  return parsed.result;
}

/** A random control token: 32 bytes, base64url. */
export function createControlToken(): string {
  return randomBytes(32).toString("base64url");
}

/** The multipart form of a module Worker upload: `metadata` (JSON) and one part per module. */
export function buildUploadForm(
  metadata: WorkerMetadata,
  mainModule: string,
  code: string,
  modules: readonly WorkerModule[] = [],
): FormData {
  const form = new FormData();
  form.set("metadata", new Blob([JSON.stringify(metadata)], { type: "application/json" }), "metadata.json");
  form.set(mainModule, new Blob([code], { type: "application/javascript+module" }), mainModule);
  for (const m of modules) form.set(m.name, new Blob([m.text], { type: m.type }), m.name);
  return form;
}

/**
 * Uploads the Worker with its bindings and secrets, creates its SQLite-backed Durable Object class on the
 * first upload, enables its workers.dev route and arms it (the Durable Object sets its first alarm).
 * The request is built with fetch and FormData (the SDK 7.x sends this form wrongly).
 */
export async function deployEdge(o: DeployEdgeOptions): Promise<DeployEdgeResult> {
  const { deployment } = o;
  const name = deployment.scriptName;
  const controlToken = o.secrets.CONTROL_TOKEN ?? createControlToken();
  const secrets: Record<string, string | undefined> = { ...o.secrets, CONTROL_TOKEN: controlToken };
  const secretValues = Object.values(secrets);
  for (const n of deployment.secretNames) {
    if (!secrets[n]) throw new EdgeError(`no value for the Worker's secret ${n}`, { code: "E_EDGE_SECRET" });
  }
  if (secretValues.includes(o.apiToken)) {
    throw new EdgeError("the deploy token is the same as the DNS token that would be uploaded to the Worker", {
      code: "E_EDGE_SAME_TOKEN",
      hint: "create a separate token with Workers Scripts › Edit for deploying; the deploy token never leaves this machine",
    });
  }
  // What Cloudflare would refuse is refused here, before anything is uploaded.
  const { sizes, problems } = checkEdgeUpload(deployment, o.code);
  if (problems.length > 0) {
    throw new EdgeError(`Cloudflare would refuse this Worker: ${problems.join("; ")}`, {
      code: "E_EDGE_LIMITS",
      hint: "nothing was uploaded; `cutover schedule --with edge --dry-run` shows the sizes",
    });
  }
  // The class exists once the first migration ran; sending it again would fail.
  const scripts = await api<Array<{ id: string; migration_tag?: string }>>(
    o,
    "GET",
    "/workers/scripts",
    undefined,
    "listing Workers",
    secretValues,
  );
  const existing = scripts.find((s) => s.id === name);
  const migration = existing?.migration_tag === EDGE_MIGRATION_TAG ? "kept" : "created";
  const metadata: WorkerMetadata = {
    ...deployment.metadata,
    bindings: deployment.metadata.bindings.map((b) =>
      b.type === "secret_text" ? { ...b, text: secrets[b.name] ?? "" } : b,
    ),
  };
  if (migration === "kept") delete metadata.migrations;
  else if (existing?.migration_tag && metadata.migrations)
    metadata.migrations = { ...metadata.migrations, old_tag: existing.migration_tag };
  const uploaded = await api<{ startup_time_ms?: number }>(
    o,
    "PUT",
    `/workers/scripts/${name}`,
    buildUploadForm(metadata, deployment.mainModule, o.code, deployment.modules),
    `uploading Worker ${name}`,
    secretValues,
  );
  const now = o.now ?? Date.now;
  const uploadedAt = now();
  const { subdomain } = await api<{ subdomain: string }>(
    o,
    "GET",
    "/workers/subdomain",
    undefined,
    "reading the account's workers.dev subdomain",
    secretValues,
  );
  await api(
    o,
    "POST",
    `/workers/scripts/${name}/subdomain`,
    JSON.stringify({ enabled: true, previews_enabled: false }),
    `enabling ${name}.${subdomain}.workers.dev`,
    secretValues,
  );
  const sleep = o.sleep ?? defaultSleep;
  const handle: EdgeHandle = {
    scriptName: name,
    url: o.workerUrl ?? `https://${name}.${subdomain}.workers.dev`,
    controlToken,
    uploadedAt,
    now,
    sleep,
    ...(o.fetch ? { fetch: o.fetch } : {}),
  };
  await o.onUploaded?.(handle);
  const startupTimeMs = typeof uploaded?.startup_time_ms === "number" ? uploaded.startup_time_ms : undefined;
  const attempts = o.armAttempts ?? 30;
  for (let i = 1; ; i++) {
    try {
      // callWorker retries a 401 from the old version itself, bounded.
      const status = await callWorker(handle, "POST", "/arm");
      return { handle, migration, status, sizes, startupTimeMs };
    } catch (error) {
      // A fresh workers.dev route answers 404 or not at all for a few seconds.
      const e = error as EdgeError;
      if (i >= attempts || e.code === "E_EDGE_UNAUTHORIZED") throw error;
      await sleep(2000);
    }
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Deletes the Worker (and with it its Durable Object, its alarm and its log). */
export async function removeEdge(o: EdgeApiOptions & { scriptName: string }): Promise<{ removed: boolean }> {
  try {
    await api(o, "DELETE", `/workers/scripts/${o.scriptName}?force=true`, undefined, `deleting Worker ${o.scriptName}`);
    return { removed: true };
  } catch (error) {
    if ((error as EdgeError).code === "E_EDGE_NOT_FOUND") return { removed: false };
    throw error;
  }
}

async function callWorker(h: EdgeHandle, method: string, path: string): Promise<EdgeStatusBody> {
  const f = h.fetch ?? globalThis.fetch;
  const now = h.now ?? Date.now;
  const sleep = h.sleep ?? defaultSleep;
  const started = now();
  let res: Response;
  // Bounded by the clock and by a count of tries, so a clock that does not move cannot loop forever.
  for (let tries = 1; ; tries++) {
    try {
      res = await f(`${h.url}${path}`, { method, headers: { authorization: `Bearer ${h.controlToken}` } });
    } catch (cause) {
      throw new EdgeError(`cannot reach ${h.url}: ${redact((cause as Error).message, [h.controlToken])}`, {
        code: "E_EDGE_NETWORK",
      });
    }
    if (res.status !== 401) break;
    // Right after an upload the old version may still answer, and it knows only the old token.
    const inRollout = h.uploadedAt !== undefined && started - h.uploadedAt < ROLLOUT_WINDOW_MS;
    if (!inRollout || now() - started >= UNAUTHORIZED_RETRY_MS || tries > UNAUTHORIZED_RETRY_MS / 2000) break;
    await res.arrayBuffer().catch(() => undefined);
    await sleep(2000);
  }
  if (res.status === 401) {
    throw new EdgeError(`${h.url} refused the control token`, {
      code: "E_EDGE_UNAUTHORIZED",
      status: 401,
      hint: "the Worker was deployed again from another machine or state directory; redeploy with `cutover schedule --with edge`",
    });
  }
  if (!res.ok) {
    const text = redact((await res.text()).slice(0, 300), [h.controlToken]);
    throw new EdgeError(`${h.url}${path} answered ${res.status}: ${text}`, {
      code: "E_EDGE_WORKER",
      status: res.status,
    });
  }
  return (await res.json()) as EdgeStatusBody;
}

/** The Worker's status: each step, the next alarm, the log. */
export function edgeStatus(h: EdgeHandle): Promise<EdgeStatusBody> {
  return callWorker(h, "GET", "/status");
}

/** Drops every pending step and the alarm (rollback, or `--remove` before deleting). */
export function cancelEdge(h: EdgeHandle): Promise<EdgeStatusBody> {
  return callWorker(h, "POST", "/cancel");
}

/** Runs what is due now, as the alarm would (a no-op for steps already done). */
export function tickEdge(h: EdgeHandle): Promise<EdgeStatusBody> {
  return callWorker(h, "POST", "/tick");
}
