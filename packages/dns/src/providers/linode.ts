import { AsyncLocalStorage } from "node:async_hooks";
import {
  baseRequest,
  getDomain,
  getDomainRecords,
  getDomains,
  updateDomainRecord,
  updateIP,
  type Domain,
  type DomainRecord,
} from "@linode/api-v4";
import { DnsError, redact } from "../errors.js";
import { normalizeName, type DnsRecord, type Zone } from "../records.js";
import { mapLimit } from "../_pool.js";
import { RateBudget, realSleep, retryAfterMs, type Sleep } from "./_http.js";
import type { ApplyOptions, ChangeOutcome, DnsProvider, ProviderConfig, RecordChange } from "./types.js";

export const LINODE_API_URL = "https://api.linode.com/v4";
/** The TTLs Linode serves; it rounds any other value up to the next one. 0 = the domain's default. */
export const LINODE_TTL_STEPS = [
  30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
] as const;
/** What Linode serves for a domain whose own ttl_sec is 0. */
export const LINODE_DEFAULT_TTL = 86400;

interface Client {
  token: string;
  baseUrl: string;
  /** Linode limits every request (1600/min) and paginated GET collections apart (200/min). */
  budget: RateBudget;
  collections: RateBudget;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/**
 * The SDK has one shared axios instance and no per-call token or base URL. Each provider runs its calls
 * inside an AsyncLocalStorage context; one interceptor (installed while any provider is open, ejected
 * when the last closes) adds that context's token, rewrites the base URL and takes from its budget.
 */
const context = new AsyncLocalStorage<Client>();
let interceptor: number | undefined;
let users = 0;

function acquireInterceptor(): void {
  users++;
  if (interceptor !== undefined) return;
  interceptor = baseRequest.interceptors.request.use(async (config) => {
    const client = context.getStore();
    if (!client) return config;
    if (config.method?.toUpperCase() === "GET" && /\/(domains|records)$/.test(config.url ?? "")) {
      await client.collections.take(client.signal);
    }
    await client.budget.take(client.signal);
    config.headers.set("Authorization", `Bearer ${client.token}`);
    // Through fetch (undici), not Node's http module: with NODE_DEBUG=http in the environment, Node prints
    // every http request's headers, the bearer token included, to stderr; fetch prints none.
    config.adapter = "fetch";
    if (config.url?.startsWith(LINODE_API_URL)) config.url = client.baseUrl + config.url.slice(LINODE_API_URL.length);
    if (client.signal) config.signal = client.signal;
    config.timeout = client.timeoutMs;
    return config;
  });
}

function releaseInterceptor(): void {
  users = Math.max(0, users - 1);
  if (users === 0 && interceptor !== undefined) {
    baseRequest.interceptors.request.eject(interceptor);
    interceptor = undefined;
  }
}

/** Interceptors the Linode SDK's shared axios instance holds now (tests check none is left behind). */
export function linodeInterceptorCount(): number {
  let n = 0;
  (baseRequest.interceptors.request as unknown as { forEach(fn: (h: unknown) => void): void }).forEach(() => n++);
  return n;
}

interface LinodeFailure {
  status: number | undefined;
  reason: string;
  retryAfter: number | undefined;
}

function describe(error: unknown, token: string): LinodeFailure {
  // The SDK rejects with an array of {field, reason} for its own validation errors.
  if (Array.isArray(error)) {
    const reason = error
      .map((e: { field?: string; reason?: string }) => (e.field ? `${e.field}: ${e.reason}` : String(e.reason)))
      .join("; ");
    return { status: 400, reason: redact(reason, [token]), retryAfter: undefined };
  }
  const e = error as {
    response?: {
      status?: number;
      data?: { errors?: Array<{ field?: string; reason?: string }> };
      headers?: Record<string, string>;
    };
    code?: string;
    message?: string;
  };
  const status = e.response?.status;
  const errors = e.response?.data?.errors ?? [];
  const reason =
    errors.length > 0
      ? errors.map((x) => (x.field ? `${x.field}: ${x.reason}` : String(x.reason))).join("; ")
      : (e.code ?? e.message ?? String(error));
  return { status, reason: redact(reason, [token]), retryAfter: retryAfterMs(e.response?.headers?.["retry-after"]) };
}

/**
 * Linode DNS Manager through `@linode/api-v4`: domains found with X-Filter, records page by page, the apex
 * named "", `ttl_sec` 0 resolved to the domain's default, TTLs snapped to Linode's steps (the plan says
 * so), one PUT per record with bounded concurrency (16) under a request budget, the TTL written again when the
 * API did not keep it, and reverse DNS on an address when the plan asks for it.
 */
export function createLinodeProvider(config: ProviderConfig): DnsProvider {
  const token = config.env.LINODE_TOKEN || config.env.LINODE_CLI_TOKEN;
  if (!token) {
    throw new DnsError("no API token: set LINODE_TOKEN (or LINODE_CLI_TOKEN)", {
      code: "E_AUTH_MISSING",
      provider: "linode",
      hint: "create a personal access token at cloud.linode.com → Profile → API Tokens with Domains: Read/Write (and IPs: Read/Write for reverse DNS)",
    });
  }
  const sleep: Sleep = config.sleep ?? realSleep;
  const baseUrl = (config.apiUrl ?? config.env.LINODE_API_URL ?? LINODE_API_URL).replace(/\/$/, "");
  const windowMs = Number(config.options.rateWindowMs ?? 60_000);
  const budget = new RateBudget(Number(config.options.rateLimit ?? 1600), windowMs, sleep);
  const collections = new RateBudget(Number(config.options.collectionRateLimit ?? 200), windowMs, sleep);
  const concurrency = Math.max(1, Number(config.options.concurrency ?? 16));
  const timeoutMs = Number(config.options.timeoutMs ?? 30_000);
  const retries = Math.max(0, Number(config.options.retries ?? 4));
  const domains = new Map<string, Domain>();
  let open = true;
  acquireInterceptor();

  const fail = (f: LinodeFailure, what: string): DnsError => {
    const hint =
      f.status === 401 || f.status === 403
        ? "check LINODE_TOKEN: it needs Domains Read/Write (and IPs Read/Write for reverse DNS)"
        : f.status === 429
          ? "Linode's rate limit was hit; wait a minute and run again"
          : f.status === undefined || f.status >= 500
            ? "Linode did not answer cleanly; run the same command again (it only does what is missing)"
            : undefined;
    return new DnsError(`${f.status ?? "network error:"} ${f.reason} while ${what}`, {
      code: f.status === 401 || f.status === 403 ? "E_AUTH" : f.status === 404 ? "E_NOT_FOUND" : "E_PROVIDER",
      provider: "linode",
      ...(f.status === undefined ? {} : { status: f.status }),
      ...(hint ? { hint } : {}),
    });
  };

  async function call<T>(what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!open) throw new DnsError("provider is closed", { code: "E_CLOSED", provider: "linode" });
    for (let i = 0; ; i++) {
      try {
        return await context.run({ token: token!, baseUrl, budget, collections, timeoutMs, signal }, fn);
      } catch (error) {
        const f = describe(error, token!);
        const retryable = f.status === undefined || f.status === 429 || f.status >= 500;
        if (!retryable || i >= retries || signal?.aborted || Array.isArray(error)) throw fail(f, what);
        await sleep(f.retryAfter ?? Math.min(8000, 500 * 2 ** i), signal);
      }
    }
  }

  async function domainFor(zone: string): Promise<Domain> {
    const name = normalizeName(zone);
    const cached = domains.get(name);
    if (cached) return cached;
    const page = await call(`looking up domain ${name}`, () => getDomains({ page_size: 25 }, { domain: name }));
    const found = page.data.find((d) => d.domain === name);
    if (!found) {
      throw new DnsError(`domain ${name} not found in this account`, {
        code: "E_ZONE_UNKNOWN",
        provider: "linode",
        hint: "check dns.zones in the plan and that the token's account holds this domain",
      });
    }
    domains.set(name, found);
    return found;
  }

  const zoneDefault = (d: Domain) => (d.ttl_sec > 0 ? d.ttl_sec : LINODE_DEFAULT_TTL);

  function toRecord(zone: string, d: Domain, r: DomainRecord): DnsRecord {
    const name =
      r.name === ""
        ? zone
        : normalizeName(r.name).endsWith(`.${zone}`)
          ? normalizeName(r.name)
          : `${normalizeName(r.name)}.${zone}`;
    let content = r.target;
    if (r.type === "MX") content = `${r.priority} ${normalizeName(r.target)}`;
    if (r.type === "CNAME" || r.type === "NS") content = normalizeName(r.target);
    return {
      id: String(r.id),
      zone,
      name,
      type: r.type,
      content,
      ttl: r.ttl_sec > 0 ? r.ttl_sec : zoneDefault(d),
      meta: r.ttl_sec > 0 ? {} : { ttlDefault: true },
    };
  }

  /** The ttl_sec to send: the original "zone default" (0) comes back as 0. */
  function ttlFor(c: RecordChange): number {
    return c.record.meta?.ttlDefault === true && c.after.ttl === c.record.ttl ? 0 : c.after.ttl;
  }

  async function writeOne(zone: string, d: Domain, c: RecordChange, signal?: AbortSignal): Promise<ChangeOutcome> {
    const cur = c.current ?? c.record;
    const body: Partial<DomainRecord> = {};
    if (c.after.content !== cur.content) {
      if (c.type === "MX") {
        const [prio, ...host] = c.after.content.split(/\s+/);
        body.priority = Number(prio);
        body.target = host.join(" ");
      } else body.target = c.after.content;
    }
    const ttl = ttlFor(c);
    if (c.after.ttl !== cur.ttl || (ttl === 0) !== (cur.meta?.ttlDefault === true)) body.ttl_sec = ttl;
    const what = `updating ${c.name} ${c.type} (record ${cur.id}) in ${zone}`;
    try {
      const written = await call(what, () => updateDomainRecord(d.id, Number(cur.id), body), signal);
      // Linode may not keep a TTL it was given (creates are known to drop it): write it again once.
      if (
        body.ttl_sec !== undefined &&
        written.ttl_sec !== body.ttl_sec &&
        toRecord(zone, d, written).ttl !== c.after.ttl
      ) {
        await call(
          `${what}: writing the TTL again`,
          () => updateDomainRecord(d.id, Number(cur.id), { ttl_sec: body.ttl_sec! }),
          signal,
        );
      }
      return { status: "applied", change: c };
    } catch (error) {
      const e = error as DnsError;
      return { status: "failed", change: c, error: e.hint ? `${e.message}; ${e.hint}` : e.message };
    }
  }

  return {
    name: "linode",
    capabilities: {
      minTtl: 30,
      maxTtl: 2419200,
      ttlSteps: LINODE_TTL_STEPS,
      batch: false,
      proxied: false,
      atomicSwap: false,
    },
    async listZones(): Promise<Zone[]> {
      const out: Zone[] = [];
      for (let p = 1; ; p++) {
        const page = await call("listing domains", () => getDomains({ page: p, page_size: 500 }));
        for (const d of page.data) out.push({ id: String(d.id), name: d.domain });
        if (p >= page.pages) break;
      }
      return out;
    },
    async listRecords(zone: string): Promise<DnsRecord[]> {
      const name = normalizeName(zone);
      const found = await domainFor(name);
      // Read the domain itself too: its ttl_sec (the default for records with 0) may have changed.
      const d = await call(`reading domain ${name}`, () => getDomain(found.id));
      domains.set(name, d);
      const out: DnsRecord[] = [];
      for (let p = 1; ; p++) {
        const page = await call(`reading the records of ${name}`, () =>
          getDomainRecords(d.id, { page: p, page_size: 500 }),
        );
        for (const r of page.data) out.push(toRecord(name, d, r));
        if (p >= page.pages) break;
      }
      return out;
    },
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      let d: Domain;
      try {
        d = await domainFor(name);
      } catch (error) {
        return changes.map((change) => ({ status: "failed" as const, change, error: (error as Error).message }));
      }
      return mapLimit(changes, concurrency, (c) => writeOne(name, d, c, options.signal));
    },
    async setReverseDns(address: string, rdns: string): Promise<void> {
      await call(`setting reverse DNS of ${address} to ${rdns}`, () => updateIP(address, rdns));
    },
    async close(): Promise<void> {
      if (!open) return;
      open = false;
      releaseInterceptor();
    },
  };
}
