import { DnsError } from "../errors.js";
import { mapLimit } from "../_pool.js";
import { HttpKit, failureText } from "./_kit.js";
import { sameContent } from "./_rrset.js";
import { defineProvider, tokenFrom } from "./define.js";
import type { ApplyOptions, DnsProvider, ProviderConfig, ProviderDefinition } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionsOf } from "@cutover/core/plan";

export const DIGITALOCEAN_API_URL = "https://api.digitalocean.com/v2";
const PER_PAGE = 200;

interface DoRecord {
  id: number;
  type: string;
  /** Relative to the domain; "@" is the apex. */
  name: string;
  data: string;
  priority: number | null;
  port: number | null;
  ttl: number;
  weight: number | null;
  flags: number | null;
  tag: string | null;
}
interface DoPage {
  links?: { pages?: { next?: string; last?: string } };
  meta?: { total?: number };
}

const TOKENS = {
  tokens: ["DIGITALOCEAN_ACCESS_TOKEN", "DIGITALOCEAN_TOKEN"],
} as const satisfies Pick<ProviderDefinition, "tokens">;
/** DigitalOcean takes no options of its own under `dns:`. */
const options = () => ({});
export type DigitalOceanOptions = OptionsOf<typeof options>;

/**
 * DigitalOcean DNS through its HTTP API v2 (there is no official JS client): records page by page (200 per
 * page), one `PATCH` per record with bounded concurrency under the token's limits (250 requests per minute,
 * 5,000 per hour), so a swap's skew grows with the number of records past the burst. Other members of a
 * multi-value RRset get the changed TTL too (DigitalOcean keeps a TTL per record; RFC 2181 wants one per set).
 */
export function createDigitalOceanProvider(config: ProviderConfig<DigitalOceanOptions>): DnsProvider {
  const token = tokenFrom(TOKENS, config.env)?.value;
  if (!token) {
    throw new DnsError("no API token: set DIGITALOCEAN_ACCESS_TOKEN (doctl's name) or DIGITALOCEAN_TOKEN", {
      code: "E_AUTH_MISSING",
      provider: "digitalocean",
      hint: "create a token at cloud.digitalocean.com → API → Tokens → Generate New Token, custom scopes domain:read and domain:update",
    });
  }
  const kit = new HttpKit({
    provider: "digitalocean",
    baseUrl: config.apiUrl ?? config.env.DIGITALOCEAN_API_URL ?? DIGITALOCEAN_API_URL,
    headers: { authorization: `Bearer ${token}` },
    secrets: [token],
    hints: {
      auth: "check DIGITALOCEAN_ACCESS_TOKEN: it needs the domain:read and domain:update scopes",
      rateLimit:
        "DigitalOcean's limit (250 requests per minute, 5,000 per hour per token) was hit; wait and run again (it only does what is missing)",
    },
    errorText: (b) =>
      b && typeof b === "object" && "message" in b
        ? `${String((b as { message: unknown }).message)}${"id" in b ? ` (${String((b as { id: unknown }).id)})` : ""}`
        : undefined,
    // The burst limit: 250 per minute, counted when a request arrives; a window of 62 s keeps a margin for
    // requests that take longer on the way (with 60 s, 30 of 1,000 PATCHes got a 429 in bench/dns). The
    // hourly 5,000 is far above what one move asks.
    rate: {
      requests: Number(config.options.rateLimit ?? 250),
      windowMs: Number(config.options.rateWindowMs ?? 62_000),
    },
    retries: Number(config.options.retries ?? 4),
    timeoutMs: Number(config.options.timeoutMs ?? 30_000),
    ...(config.sleep ? { sleep: config.sleep } : {}),
  });
  const concurrency = Math.max(1, Number(config.options.concurrency ?? 16));

  async function pages<T>(path: string, key: string, what: string): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const res = await kit.request<DoPage & Record<string, T[]>>("GET", path, {
        what,
        query: { page, per_page: PER_PAGE },
      });
      const items = res.body[key] ?? [];
      out.push(...items);
      if (items.length === 0 || !res.body.links?.pages?.next) break;
    }
    return out;
  }

  function toRecord(zone: string, r: DoRecord): DnsRecord {
    const name = r.name === "@" ? zone : `${normalizeName(r.name)}.${zone}`;
    const host = (d: string) => (d === "@" ? zone : normalizeName(d));
    let content = r.data;
    if (r.type === "CNAME" || r.type === "NS") content = host(r.data);
    if (r.type === "MX") content = `${r.priority ?? 0} ${host(r.data)}`;
    if (r.type === "SRV") content = `${r.priority ?? 0} ${r.weight ?? 0} ${r.port ?? 0} ${host(r.data)}`;
    return { id: String(r.id), zone, name, type: r.type, content, ttl: r.ttl };
  }

  async function listRecords(zone: string): Promise<DnsRecord[]> {
    const name = normalizeName(zone);
    try {
      const records = await pages<DoRecord>(
        `/domains/${encodeURIComponent(name)}/records`,
        "domain_records",
        `reading the records of ${name}`,
      );
      return records.map((r) => toRecord(name, r));
    } catch (error) {
      if (error instanceof DnsError && error.status === 404) {
        throw new DnsError(`domain ${name} not found in this account`, {
          code: "E_ZONE_UNKNOWN",
          provider: "digitalocean",
          hint: "check dns.zones in the plan and that the token's team holds this domain (Networking → Domains)",
        });
      }
      throw error;
    }
  }

  async function patch(zone: string, id: string, body: Record<string, unknown>, what: string, signal?: AbortSignal) {
    await kit.request("PATCH", `/domains/${encodeURIComponent(zone)}/records/${encodeURIComponent(id)}`, {
      what,
      body,
      signal,
    });
  }

  async function writeOne(zone: string, c: RecordChange, signal?: AbortSignal): Promise<ChangeOutcome> {
    const cur = c.current ?? c.record;
    const body: Record<string, unknown> = { type: c.type };
    if (!sameContent(c.type, c.after.content, cur.content)) {
      if (c.type === "MX") {
        const [prio, ...host] = c.after.content.split(/\s+/);
        body.priority = Number(prio);
        body.data = `${normalizeName(host.join(" "))}.`;
      } else if (c.type === "CNAME" || c.type === "NS") body.data = `${normalizeName(c.after.content)}.`;
      else body.data = c.after.content;
    }
    if (c.after.ttl !== cur.ttl) body.ttl = c.after.ttl;
    try {
      await patch(zone, cur.id, body, `updating ${c.name} ${c.type} (record ${cur.id}) in ${zone}`, signal);
      return { status: "applied", change: c };
    } catch (error) {
      return { status: "failed", change: c, error: failureText(error) };
    }
  }

  return {
    name: "digitalocean",
    capabilities: { minTtl: 30, maxTtl: 2 ** 31 - 1, batch: false, proxied: false, atomicSwap: false },
    async listZones(): Promise<Zone[]> {
      const domains = await pages<{ name: string }>("/domains", "domains", "listing domains");
      return domains.map((d) => ({ id: d.name, name: normalizeName(d.name) }));
    },
    listRecords,
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      const outcomes = await mapLimit(changes, concurrency, (c) => writeOne(name, c, options.signal));
      // One TTL per RRset: members of a changed name/type that no change covers take the new TTL.
      const ttls = new Map<string, number>();
      for (const o of outcomes)
        if (o.status === "applied") ttls.set(`${o.change.name}|${o.change.type}`, o.change.after.ttl);
      if (ttls.size === 0) return outcomes;
      let current: DnsRecord[];
      try {
        current = await listRecords(name);
      } catch {
        return outcomes;
      }
      const covered = new Set(changes.map((c) => (c.current ?? c.record).id));
      const siblings = current.filter((r) => {
        const ttl = ttls.get(`${r.name}|${r.type}`);
        return ttl !== undefined && r.ttl !== ttl && !covered.has(r.id);
      });
      const missed = new Map<string, string>();
      await mapLimit(siblings, concurrency, async (r) => {
        const key = `${r.name}|${r.type}`;
        const ttl = ttls.get(key)!;
        const what = `giving ${r.name} ${r.type} ${r.content} the RRset's TTL ${ttl}`;
        await patch(name, r.id, { type: r.type, ttl }, what, options.signal).catch((error: unknown) =>
          missed.set(key, failureText(error)),
        );
      });
      // A set whose other members kept another TTL is not done: say so, and a rerun finishes it.
      return outcomes.map((o) => {
        const error = o.status === "applied" ? missed.get(`${o.change.name}|${o.change.type}`) : undefined;
        return error ? { status: "failed" as const, change: o.change, error } : o;
      });
    },
  };
}

export const digitalOceanProvider = /* @__PURE__ */ defineProvider({
  name: "digitalocean",
  title: "DigitalOcean DNS (API v2)",
  options,
  ...TOKENS,
  env: ["DIGITALOCEAN_API_URL"],
  credentials: "a token with the custom scopes domain:read and domain:update",
  traits: {
    writes: "one PATCH per record, 16 in flight, 250 requests/min",
    atomic: "none",
    rrsets: false,
    minTtl: 30,
    edge: false,
  },
  template:
    "  provider: digitalocean          # token from DIGITALOCEAN_ACCESS_TOKEN (custom scopes domain:read, domain:update)",
  create: createDigitalOceanProvider,
});
