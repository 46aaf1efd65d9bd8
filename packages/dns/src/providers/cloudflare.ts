import { DnsError } from "../errors.js";
import { mapLimit } from "../_pool.js";
import { unquoteTxt } from "./_http.js";
import { failureText, HttpKit } from "./_kit.js";
import { defineProvider, tokenFrom } from "./define.js";
import type { ApplyOptions, DnsProvider, ProviderConfig, ProviderDefinition } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionKinds, OptionsOf } from "@cutover/core/plan";

/** Cloudflare serves TTL 1 ("automatic") as 300 seconds. */
export const CLOUDFLARE_AUTO_TTL = 300;
export const CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4";
const PER_PAGE = 5000;

/** A DNS record as the API answers it (GET /zones/{id}/dns_records). */
interface CfRecord {
  id: string;
  name: string;
  type: string;
  content?: string;
  ttl: number;
  proxied?: boolean;
  priority?: number;
  comment?: string | null;
  tags?: string[];
}
/** The API's envelope: `result`, `result_info` on lists, `errors` [{code, message}] on failures. */
interface CfPage<T> {
  result: T[];
  result_info?: { page?: number; total_pages?: number };
}

const TOKENS = { tokens: ["CLOUDFLARE_API_TOKEN"] } as const satisfies Pick<ProviderDefinition, "tokens">;

/** The plan's options for Cloudflare under `dns:`. */
const options = ({ z }: OptionKinds) => ({
  accountId: z
    .string()
    .regex(/^[0-9a-f]{32}$/i, { error: "a Cloudflare account id is 32 hex digits (dashboard → Account ID)" })
    .optional(),
});
export type CloudflareOptions = OptionsOf<typeof options>;

/**
 * Cloudflare DNS through its HTTP API v4 and the provider kit (plain `fetch`; the official SDK took ~1.1 s to
 * import whole and made the Worker bundle 112 KB gzipped with Linode's). Reads zones by name and records page by
 * page, writes a zone's changes with the batch endpoint (one transaction per call, split at `batchSize`, 200 by
 * default = the Free plan's limit) as PATCHes, so proxied, comments and tags stay. Retries 429 and 5xx answers
 * after `Retry-After` and stays under 1200 requests per 5 minutes itself.
 */
export function createCloudflareProvider(config: ProviderConfig<CloudflareOptions>): DnsProvider {
  const token = tokenFrom(TOKENS, config.env)?.value;
  if (!token) {
    throw new DnsError("no API token: set CLOUDFLARE_API_TOKEN", {
      code: "E_AUTH_MISSING",
      provider: "cloudflare",
      hint: "create a token at dash.cloudflare.com → My Profile → API Tokens with Zone:Read and DNS:Edit on the plan's zones",
    });
  }
  const kit = new HttpKit({
    provider: "cloudflare",
    baseUrl: config.apiUrl ?? config.env.CLOUDFLARE_BASE_URL ?? CLOUDFLARE_API_URL,
    headers: { authorization: `Bearer ${token}` },
    secrets: [token],
    hints: {
      label: "Cloudflare",
      auth: "check CLOUDFLARE_API_TOKEN: it needs Zone:Read and DNS:Edit on this zone (API Tokens page)",
      rateLimit: "Cloudflare's rate limit (1200 requests per 5 minutes) was hit; wait 5 minutes and run again",
    },
    errorText: (b) => {
      const errors = (b as { errors?: Array<{ code?: number; message?: string }> } | undefined)?.errors;
      return Array.isArray(errors) && errors.length > 0
        ? errors.map((x) => `${x.message ?? ""}${x.code ? ` (${x.code})` : ""}`).join("; ")
        : undefined;
    },
    rate: {
      requests: Number(config.options.rateLimit ?? 1200),
      windowMs: Number(config.options.rateWindowMs ?? 300_000),
    },
    retries: Number(config.options.retries ?? 4),
    timeoutMs: Number(config.options.timeoutMs ?? 60_000),
    ...(config.sleep ? { sleep: config.sleep } : {}),
  });
  const batchSize = Math.max(1, config.batchSize ?? 200);
  const batchConcurrency = Math.max(1, Number(config.options.batchConcurrency ?? 5));
  const zoneIds = new Map<string, string>();

  /** Every item of a paged list, page by page until result_info says it was the last. */
  async function pages<T>(path: string, query: Record<string, string | number>, what: string): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const res = await kit.request<CfPage<T>>("GET", path, { what, query: { ...query, page } });
      const items = res.body.result ?? [];
      out.push(...items);
      const total = res.body.result_info?.total_pages;
      if (items.length === 0 || !total || page >= total) break;
    }
    return out;
  }

  async function zoneId(zone: string): Promise<string> {
    const name = normalizeName(zone);
    const cached = zoneIds.get(name);
    if (cached) return cached;
    const res = await kit.request<CfPage<{ id: string; name: string }>>("GET", "/zones", {
      what: `looking up zone ${name}`,
      query: { name, per_page: 50 },
    });
    const found = (res.body.result ?? []).find((z) => z.name === name);
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

  function toRecord(zone: string, raw: CfRecord): DnsRecord {
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
    const records = await pages<CfRecord>(
      `/zones/${encodeURIComponent(id)}/dns_records`,
      { per_page: PER_PAGE },
      `reading the records of ${name}`,
    );
    return records.map((r) => toRecord(name, r));
  }

  /** The PATCH body for one change: only what changes, so proxied, comments and tags stay. */
  function patchFor(c: RecordChange): Record<string, unknown> {
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
    return body;
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
      const zones = await pages<{ id: string; name: string }>("/zones", { per_page: 50 }, "listing zones");
      return zones.map((z) => ({ id: z.id, name: z.name }));
    },
    listRecords,
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      const outcomes: ChangeOutcome[] = [];
      let id: string;
      try {
        id = await zoneId(name);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
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
          await kit.request("POST", `/zones/${encodeURIComponent(id)}/dns_records/batch`, {
            what,
            body: { patches: chunk.map(patchFor) },
            signal: options.signal,
          });
          return chunk.map((change) => ({ status: "applied" as const, change }));
        } catch (error) {
          // A batch is one transaction: none of this chunk was applied (unless only the answer was lost,
          // which the read-back after applying finds).
          stopped = true;
          const message = failureText(error);
          return chunk.map((change) => ({ status: "failed" as const, change, error: message }));
        }
      });
      outcomes.push(...results.flat());
      return outcomes;
    },
  };
}

export const cloudflareProvider = /* @__PURE__ */ defineProvider({
  name: "cloudflare",
  title: "Cloudflare DNS (API v4, batch endpoint)",
  options,
  ...TOKENS,
  env: ["CLOUDFLARE_BASE_URL"],
  credentials: "an API token with Zone:Read and DNS:Edit on the plan's zones",
  traits: {
    writes: "the batch endpoint, one transaction per call (200 records on Free, 3500 on paid plans)",
    atomic: "batch",
    rrsets: false,
    minTtl: 60,
    edge: true,
  },
  template: "  provider: cloudflare            # token from CLOUDFLARE_API_TOKEN (Zone.DNS edit)",
  create: createCloudflareProvider,
});
