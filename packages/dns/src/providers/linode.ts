import { DnsError } from "../errors.js";
import { mapLimit } from "../_pool.js";
import { failureText, HttpKit } from "./_kit.js";
import { defineProvider, tokenFrom } from "./define.js";
import type { ApplyOptions, DnsProvider, ProviderConfig, ProviderDefinition } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionsOf } from "@cutover/core/plan";

export const LINODE_API_URL = "https://api.linode.com/v4";
/** The TTLs Linode serves; it rounds any other value up to the next one. 0 = the domain's default. */
export const LINODE_TTL_STEPS = [
  30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
] as const;
/** What Linode serves for a domain whose own ttl_sec is 0. */
export const LINODE_DEFAULT_TTL = 86400;

const TOKENS = { tokens: ["LINODE_TOKEN", "LINODE_CLI_TOKEN"] } as const satisfies Pick<ProviderDefinition, "tokens">;
/** Linode takes no options of its own under `dns:`. */
const options = () => ({});
export type LinodeOptions = OptionsOf<typeof options>;

/** A domain as the API answers it (GET /domains). */
interface Domain {
  id: number;
  domain: string;
  ttl_sec: number;
}
/** A domain record as the API answers it (GET /domains/{id}/records). */
interface DomainRecord {
  id: number;
  name: string;
  type: string;
  target: string;
  priority: number;
  ttl_sec: number;
}
/** A page of a collection: `{data, page, pages, results}`. */
interface Page<T> {
  data: T[];
  page: number;
  pages: number;
}

/**
 * Linode DNS Manager through its API v4 and the provider kit (plain `fetch`; `@linode/api-v4` took ~0.5 s to
 * import, brought axios into the Worker, and shared one axios instance between clients): domains found with X-Filter, records page by page, the apex
 * named "", `ttl_sec` 0 resolved to the domain's default, TTLs snapped to Linode's steps (the plan says
 * so), one PUT per record with bounded concurrency (16) under a request budget, the TTL written again when the
 * API did not keep it, and reverse DNS on an address when the plan asks for it.
 */
export function createLinodeProvider(config: ProviderConfig<LinodeOptions>): DnsProvider {
  const token = tokenFrom(TOKENS, config.env)?.value;
  if (!token) {
    throw new DnsError("no API token: set LINODE_TOKEN (or LINODE_CLI_TOKEN)", {
      code: "E_AUTH_MISSING",
      provider: "linode",
      hint: "create a personal access token at cloud.linode.com → Profile → API Tokens with Domains: Read/Write (and IPs: Read/Write for reverse DNS)",
    });
  }
  const windowMs = Number(config.options.rateWindowMs ?? 60_000);
  const kit = new HttpKit({
    provider: "linode",
    baseUrl: config.apiUrl ?? config.env.LINODE_API_URL ?? LINODE_API_URL,
    headers: { authorization: `Bearer ${token}` },
    secrets: [token],
    hints: {
      label: "Linode",
      auth: "check LINODE_TOKEN: it needs Domains Read/Write (and IPs Read/Write for reverse DNS)",
      rateLimit: "Linode's rate limit was hit; wait a minute and run again",
    },
    errorText: (b) => {
      const errors = (b as { errors?: Array<{ field?: string; reason?: string }> } | undefined)?.errors;
      return Array.isArray(errors) && errors.length > 0
        ? errors.map((x) => (x.field ? `${x.field}: ${x.reason}` : String(x.reason))).join("; ")
        : undefined;
    },
    // Linode limits every request (1600/min) and paginated GET collections apart (200/min).
    rate: { requests: Number(config.options.rateLimit ?? 1600), windowMs },
    retries: Number(config.options.retries ?? 4),
    timeoutMs: Number(config.options.timeoutMs ?? 30_000),
    ...(config.sleep ? { sleep: config.sleep } : {}),
  });
  const collections = kit.budgetOf(Number(config.options.collectionRateLimit ?? 200), windowMs);
  const concurrency = Math.max(1, Number(config.options.concurrency ?? 16));
  const domains = new Map<string, Domain>();
  let open = true;

  async function call<T>(
    method: string,
    path: string,
    what: string,
    extra: { body?: unknown; query?: Record<string, number>; filter?: unknown; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    if (!open) throw new DnsError("provider is closed", { code: "E_CLOSED", provider: "linode" });
    const collection = method === "GET" && /\/(domains|records)$/.test(path);
    const res = await kit.request<T>(method, path, {
      what,
      ...(extra.body === undefined ? {} : { body: extra.body }),
      ...(extra.query ? { query: extra.query } : {}),
      ...(extra.filter === undefined ? {} : { headers: { "X-Filter": JSON.stringify(extra.filter) } }),
      signal: extra.signal,
      ...(collection ? { budgets: [collections] } : {}),
    });
    return res.body;
  }

  async function domainFor(zone: string): Promise<Domain> {
    const name = normalizeName(zone);
    const cached = domains.get(name);
    if (cached) return cached;
    const page = await call<Page<Domain>>("GET", "/domains", `looking up domain ${name}`, {
      query: { page_size: 25 },
      filter: { domain: name },
    });
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
    const body: { target?: string; priority?: number; ttl_sec?: number } = {};
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
      const path = `/domains/${d.id}/records/${encodeURIComponent(cur.id)}`;
      const written = await call<DomainRecord>("PUT", path, what, { body, signal });
      // Linode may not keep a TTL it was given (creates are known to drop it): write it again once.
      if (
        body.ttl_sec !== undefined &&
        written.ttl_sec !== body.ttl_sec &&
        toRecord(zone, d, written).ttl !== c.after.ttl
      ) {
        await call("PUT", path, `${what}: writing the TTL again`, { body: { ttl_sec: body.ttl_sec }, signal });
      }
      return { status: "applied", change: c };
    } catch (error) {
      return { status: "failed", change: c, error: failureText(error) };
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
        const page = await call<Page<Domain>>("GET", "/domains", "listing domains", {
          query: { page: p, page_size: 500 },
        });
        for (const d of page.data) out.push({ id: String(d.id), name: d.domain });
        if (p >= page.pages) break;
      }
      return out;
    },
    async listRecords(zone: string): Promise<DnsRecord[]> {
      const name = normalizeName(zone);
      const found = await domainFor(name);
      // Read the domain itself too: its ttl_sec (the default for records with 0) may have changed.
      const d = await call<Domain>("GET", `/domains/${found.id}`, `reading domain ${name}`);
      domains.set(name, d);
      const out: DnsRecord[] = [];
      for (let p = 1; ; p++) {
        const page = await call<Page<DomainRecord>>(
          "GET",
          `/domains/${d.id}/records`,
          `reading the records of ${name}`,
          {
            query: { page: p, page_size: 500 },
          },
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
      await call(
        "PUT",
        `/networking/ips/${encodeURIComponent(address)}`,
        `setting reverse DNS of ${address} to ${rdns}`,
        {
          body: { rdns },
        },
      );
    },
    async close(): Promise<void> {
      if (!open) return;
      open = false;
    },
  };
}

export const linodeProvider = /* @__PURE__ */ defineProvider({
  name: "linode",
  title: "Linode DNS Manager (API v4)",
  options,
  ...TOKENS,
  env: ["LINODE_API_URL"],
  credentials: "a personal access token with Domains Read/Write (IPs Read/Write for reverse DNS)",
  traits: {
    writes: "one PUT per record, 16 in flight",
    atomic: "none",
    rrsets: false,
    minTtl: 30,
    edge: true,
  },
  template: "  provider: linode                # token from LINODE_TOKEN (Domains read/write)",
  create: createLinodeProvider,
});
