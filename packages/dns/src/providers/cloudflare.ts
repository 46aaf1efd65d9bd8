import type { BatchPatchParam, RecordResponse } from "cloudflare/resources/dns/records";
import { DnsError, redact } from "../errors.js";
import { normalizeName, type DnsRecord, type Zone } from "../records.js";
import { mapLimit } from "../_pool.js";
import { APIError, BaseRecords, BaseZones, createClient } from "./_cloudflare-sdk.js";
import { RateBudget, realSleep, retryAfterMs, unquoteTxt, type Sleep } from "./_http.js";
import type { ApplyOptions, ChangeOutcome, DnsProvider, ProviderConfig, RecordChange } from "./types.js";

/** Cloudflare serves TTL 1 ("automatic") as 300 seconds. */
export const CLOUDFLARE_AUTO_TTL = 300;
const PER_PAGE = 5000;

interface Attempt {
  what: string;
  signal?: AbortSignal | undefined;
}

/**
 * Cloudflare DNS through the official SDK. Reads zones by name and records page by page, writes a zone's
 * changes with the batch endpoint (one transaction per call, split at `batchSize`, 200 by default = the
 * Free plan's limit) as PATCHes, so proxied, comments and tags stay. Retries 429 and 5xx answers after
 * `Retry-After` and stays under 1200 requests per 5 minutes itself.
 */
export function createCloudflareProvider(config: ProviderConfig): DnsProvider {
  const token = config.env.CLOUDFLARE_API_TOKEN;
  if (!token) {
    throw new DnsError("no API token: set CLOUDFLARE_API_TOKEN", {
      code: "E_AUTH_MISSING",
      provider: "cloudflare",
      hint: "create a token at dash.cloudflare.com → My Profile → API Tokens with Zone:Read and DNS:Edit on the plan's zones",
    });
  }
  const sleep: Sleep = config.sleep ?? realSleep;
  const budget = new RateBudget(
    Number(config.options.rateLimit ?? 1200),
    Number(config.options.rateWindowMs ?? 300_000),
    sleep,
  );
  const baseURL = config.apiUrl ?? config.env.CLOUDFLARE_BASE_URL;
  const client = createClient({
    resources: [BaseZones, BaseRecords],
    apiToken: token,
    ...(baseURL ? { baseURL } : {}),
    // Our own retry loop honours Retry-After with an injectable clock and reports each attempt.
    maxRetries: 0,
    timeout: Number(config.options.timeoutMs ?? 60_000),
    fetch: async (url, init) => {
      await budget.take(init?.signal ?? undefined);
      return globalThis.fetch(url, init);
    },
  });
  const batchSize = Math.max(1, config.batchSize ?? 200);
  const batchConcurrency = Math.max(1, Number(config.options.batchConcurrency ?? 5));
  const retries = Math.max(0, Number(config.options.retries ?? 4));
  const zoneIds = new Map<string, string>();

  const fail = (error: unknown, what: string): DnsError => {
    if (error instanceof DnsError) return error;
    const e = error as { status?: number; errors?: Array<{ code?: number; message?: string }>; message?: string };
    const status = typeof e.status === "number" ? e.status : undefined;
    const api = (e.errors ?? []).map((x) => `${x.message ?? ""}${x.code ? ` (${x.code})` : ""}`).join("; ");
    const reason = redact(api || (e.message ?? String(error)), [token]);
    const hint =
      status === 401 || status === 403
        ? "check CLOUDFLARE_API_TOKEN: it needs Zone:Read and DNS:Edit on this zone (API Tokens page)"
        : status === 429
          ? "Cloudflare's rate limit (1200 requests per 5 minutes) was hit; wait 5 minutes and run again"
          : status === undefined || status >= 500
            ? "Cloudflare did not answer cleanly; run the same command again (it only does what is missing)"
            : undefined;
    // Without an answer, say where it was sent: a mistyped CLOUDFLARE_BASE_URL is the usual cause.
    const where = status === undefined ? ` (${baseURL ?? "https://api.cloudflare.com/client/v4"})` : "";
    return new DnsError(`${status ?? "network error"}${status ? "" : ":"} ${reason} while ${what}${where}`, {
      code: status === 401 || status === 403 ? "E_AUTH" : status === 404 ? "E_NOT_FOUND" : "E_PROVIDER",
      provider: "cloudflare",
      ...(status === undefined ? {} : { status }),
      ...(hint ? { hint } : {}),
    });
  };

  /** One API call with retries on 429/5xx/network errors, waiting as Retry-After says. */
  async function call<T>(attempt: Attempt, fn: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (error) {
        const e = error as { status?: number; headers?: Headers };
        const status = e.status;
        const retryable = status === undefined || status === 429 || status >= 500;
        if (!retryable || i >= retries || attempt.signal?.aborted || !(error instanceof APIError)) {
          throw fail(error, attempt.what);
        }
        const wait = retryAfterMs(e.headers?.get?.("retry-after")) ?? Math.min(8000, 500 * 2 ** i);
        await sleep(wait, attempt.signal);
      }
    }
  }

  async function zoneId(zone: string): Promise<string> {
    const name = normalizeName(zone);
    const cached = zoneIds.get(name);
    if (cached) return cached;
    const page = await call({ what: `looking up zone ${name}` }, () => client.zones.list({ name, per_page: 50 }));
    const found = page.result.find((z) => z.name === name);
    if (!found) {
      throw new DnsError(`zone ${name} not found in this account`, {
        code: "E_ZONE_UNKNOWN",
        provider: "cloudflare",
        hint: "check dns.zones in the plan, and that the token's zone resources include this zone",
      });
    }
    zoneIds.set(name, found.id);
    return found.id;
  }

  function toRecord(zone: string, r: RecordResponse): DnsRecord {
    const raw = r as RecordResponse & { priority?: number; comment?: string | null; tags?: string[] };
    let content = raw.content ?? "";
    if (raw.type === "TXT") content = unquoteTxt(content);
    if (raw.type === "MX") content = `${raw.priority ?? 0} ${content}`;
    const out: DnsRecord = {
      id: raw.id,
      zone,
      name: normalizeName(raw.name),
      type: raw.type,
      content,
      ttl: raw.ttl === 1 ? CLOUDFLARE_AUTO_TTL : raw.ttl,
      meta: {
        ...(raw.ttl === 1 ? { ttlAuto: true } : {}),
        ...(raw.comment ? { comment: raw.comment } : {}),
        ...(raw.tags && raw.tags.length > 0 ? { tags: raw.tags } : {}),
      },
    };
    if (raw.proxied) out.proxied = true;
    return out;
  }

  async function listRecords(zone: string): Promise<DnsRecord[]> {
    const name = normalizeName(zone);
    const id = await zoneId(name);
    const out: DnsRecord[] = [];
    // Page by page until result_info says it was the last (the SDK's iterator asks for one more, empty page).
    for (let p = 1; ; p++) {
      const page = await call({ what: `reading the records of ${name}` }, () =>
        client.dns.records.list({ zone_id: id, per_page: PER_PAGE, page: p }),
      );
      for (const r of page.result) out.push(toRecord(name, r));
      const info = (page as unknown as { result_info?: { total_pages?: number } }).result_info;
      if (page.result.length === 0 || !info?.total_pages || p >= info.total_pages) break;
    }
    return out;
  }

  /** The PATCH body for one change: only what changes, so proxied, comments and tags stay. */
  function patchFor(c: RecordChange): BatchPatchParam {
    const cur = c.current ?? c.record;
    const body: Record<string, unknown> = { id: cur.id, type: c.type, name: c.name };
    if (c.after.content !== cur.content) {
      if (c.type === "MX") {
        const [prio, ...host] = c.after.content.split(/\s+/);
        body.priority = Number(prio);
        body.content = host.join(" ");
      } else body.content = c.after.content;
    }
    // Proxied records have no TTL to set; an original "automatic" TTL comes back as 1.
    if (!cur.proxied && c.after.ttl !== cur.ttl) {
      body.ttl = c.record.meta?.ttlAuto === true && c.after.ttl === c.record.ttl ? 1 : c.after.ttl;
    } else if (
      !cur.proxied &&
      c.record.meta?.ttlAuto === true &&
      c.after.ttl === c.record.ttl &&
      cur.meta?.ttlAuto !== true
    ) {
      body.ttl = 1;
    }
    return body as unknown as BatchPatchParam;
  }

  return {
    name: "cloudflare",
    capabilities: {
      minTtl: Number(config.options.minTtl ?? 60),
      maxTtl: 86400,
      batch: true,
      maxBatch: batchSize,
      proxied: true,
      atomicSwap: false,
    },
    async listZones(): Promise<Zone[]> {
      const out: Zone[] = [];
      for (let p = 1; ; p++) {
        const page = await call({ what: "listing zones" }, () => client.zones.list({ per_page: 50, page: p }));
        for (const z of page.result) out.push({ id: z.id, name: z.name });
        const info = (page as unknown as { result_info?: { total_pages?: number } }).result_info;
        if (page.result.length === 0 || !info?.total_pages || p >= info.total_pages) break;
      }
      return out;
    },
    listRecords,
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      const outcomes: ChangeOutcome[] = [];
      let id: string;
      try {
        id = await zoneId(name);
      } catch (error) {
        const message = fail(error, `looking up zone ${name}`).message;
        return changes.map((change) => ({ status: "failed" as const, change, error: message }));
      }
      // Batches go out together (up to batchConcurrency at once), so a swap larger than one batch still
      // changes every record within about one call; a batch not yet started when one fails is not sent.
      const chunks: RecordChange[][] = [];
      for (let i = 0; i < changes.length; i += batchSize) chunks.push(changes.slice(i, i + batchSize));
      let stopped = false;
      const results = await mapLimit(chunks, batchConcurrency, async (chunk): Promise<ChangeOutcome[]> => {
        if (stopped) return chunk.map((change) => ({ status: "pending" as const, change }));
        const names = chunk.map((c) => `${c.name} ${c.type}`);
        const what = `writing ${chunk.length} record(s) in one batch (${names.slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""})`;
        try {
          await call({ what, signal: options.signal }, () =>
            client.dns.records.batch(
              { zone_id: id, patches: chunk.map(patchFor) },
              options.signal ? { signal: options.signal } : {},
            ),
          );
          return chunk.map((change) => ({ status: "applied" as const, change }));
        } catch (error) {
          // A batch is one transaction: none of this chunk was applied (unless only the answer was lost,
          // which the read-back after applying finds).
          stopped = true;
          const e = fail(error, what);
          const message = e.hint ? `${e.message}; ${e.hint}` : e.message;
          return chunk.map((change) => ({ status: "failed" as const, change, error: message }));
        }
      });
      outcomes.push(...results.flat());
      return outcomes;
    },
  };
}
