import { isIP } from "node:net";
import { http, HttpResponse, type RequestHandler } from "msw";
import { FakeBase, readJson, type FakeSwitches, type LoggedRequest } from "./_common.js";

/**
 * A stateful fake of Linode's API v4 for domains, domain records and IP reverse DNS: `{data, page, pages,
 * results}` pages (`page`, `page_size` 25–500), `X-Filter` on domains, TTL rounding up to Linode's steps
 * (0 = the domain's default), the apex named "", `{errors: [{field, reason}]}` errors and 429s.
 */
export const LINODE_URL = "https://api.linode.com/v4";

export const LINODE_TTL_STEPS = [
  30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
] as const;

export interface LinodeDomain {
  id: number;
  domain: string;
  type: "master";
  status: "active";
  soa_email: string;
  /** 0 = Linode's default (86400). */
  ttl_sec: number;
  tags: string[];
}

export interface LinodeRecord {
  id: number;
  type: string;
  /** Relative to the domain; "" is the apex. */
  name: string;
  target: string;
  priority: number;
  weight: number;
  port: number;
  service: string | null;
  protocol: string | null;
  ttl_sec: number;
  tag: string | null;
  created: string;
  updated: string;
}

export interface LinodeIp {
  address: string;
  type: "ipv4" | "ipv6";
  public: boolean;
  rdns: string | null;
  linode_id: number;
  region: string;
}

export interface LinodeFakeOptions {
  baseUrl?: string;
  tokens?: string[];
  /** A create ignores the given TTL (stores 0), as the real API sometimes does; a later PUT sets it. */
  createIgnoresTtl?: boolean;
  switches?: Partial<FakeSwitches>;
}

class LinodeFailure extends Error {
  readonly status: number;
  readonly errors: Array<{ field?: string; reason: string }>;
  constructor(status: number, errors: Array<{ field?: string; reason: string }>) {
    super(errors.map((e) => e.reason).join("; "));
    this.status = status;
    this.errors = errors;
  }
}

/** Linode rounds a TTL up to its next step; 0 stays 0 (the domain default). */
export function roundLinodeTtl(ttl: number): number {
  if (ttl <= 0) return 0;
  return LINODE_TTL_STEPS.find((s) => s >= ttl) ?? LINODE_TTL_STEPS[LINODE_TTL_STEPS.length - 1]!;
}

export class LinodeFake extends FakeBase {
  readonly baseUrl: string;
  readonly domains = new Map<number, LinodeDomain>();
  readonly records = new Map<number, Map<number, LinodeRecord>>();
  readonly ips = new Map<string, LinodeIp>();
  readonly tokens: string[];
  createIgnoresTtl: boolean;
  /** The separate limit on paginated GET collections (domains, records). */
  collectionRateLimit = { requests: 200, windowMs: 60_000 };
  /** The next this-many record updates ignore ttl_sec, as a create may (tests the provider's second write). */
  ignoreTtlWrites = 0;
  private nextDomain = 1000;
  private nextRecord = 50_000;

  constructor(options: LinodeFakeOptions = {}) {
    // Linode's published limits: 1600 requests per minute per user, 200 per minute for paginated GET collections.
    super({ rateLimit: { requests: 1600, windowMs: 60_000 }, ...options.switches });
    this.baseUrl = options.baseUrl ?? LINODE_URL;
    this.tokens = options.tokens ?? ["linode-test-token-abcdef0123"];
    this.createIgnoresTtl = options.createIgnoresTtl ?? false;
  }

  addDomain(domain: string, ttl_sec = 0): LinodeDomain {
    const d: LinodeDomain = {
      id: this.nextDomain++,
      domain,
      type: "master",
      status: "active",
      soa_email: `hostmaster@${domain}`,
      ttl_sec,
      tags: [],
    };
    this.domains.set(d.id, d);
    this.records.set(d.id, new Map());
    return d;
  }

  /** Seeds a record; `name` relative to the domain, "" or "@" for the apex. */
  addRecord(
    domain: string,
    r: { name: string; type: string; target: string; ttl_sec?: number; priority?: number },
  ): LinodeRecord {
    const d = this.domainByName(domain);
    const mx = r.type === "MX" ? /^(\d+)\s+(.+)$/.exec(r.target) : null;
    const fields = mx ? { target: mx[2]!, priority: Number(mx[1]) } : {};
    return this.create(d, { ...r, ...fields, name: r.name === "@" ? "" : r.name }, true);
  }

  addIp(address: string, rdns: string | null = null): LinodeIp {
    const ip: LinodeIp = {
      address,
      type: isIP(address) === 6 ? "ipv6" : "ipv4",
      public: true,
      rdns,
      linode_id: 123,
      region: "eu-central",
    };
    this.ips.set(address, ip);
    return ip;
  }

  domainByName(name: string): LinodeDomain {
    const d = [...this.domains.values()].find((x) => x.domain === name);
    if (!d) throw new Error(`fake: no domain ${name}`);
    return d;
  }

  list(domain: string): LinodeRecord[] {
    return [...this.records.get(this.domainByName(domain).id)!.values()];
  }

  find(domain: string, name: string, type: string): LinodeRecord[] {
    return this.list(domain).filter((r) => r.name === name && r.type === type);
  }

  private stamp(): string {
    return new Date(this.now()).toISOString().slice(0, 19);
  }

  private validate(r: Partial<LinodeRecord>): void {
    const errors: Array<{ field: string; reason: string }> = [];
    if (r.type === "A" && isIP(r.target ?? "") !== 4) errors.push({ field: "target", reason: "Invalid IPv4 address" });
    if (r.type === "AAAA" && isIP(r.target ?? "") !== 6)
      errors.push({ field: "target", reason: "Invalid IPv6 address" });
    if (!r.type) errors.push({ field: "type", reason: "type is required" });
    if (r.name !== undefined && r.name.endsWith(".")) errors.push({ field: "name", reason: "Invalid record name" });
    if (typeof r.ttl_sec === "number" && (r.ttl_sec < 0 || r.ttl_sec > 2419200))
      errors.push({ field: "ttl_sec", reason: "ttl_sec must be between 0 and 2419200" });
    if (errors.length > 0) throw new LinodeFailure(400, errors);
  }

  private create(d: LinodeDomain, body: Record<string, unknown>, seeding = false): LinodeRecord {
    const draft: Partial<LinodeRecord> = {
      type: typeof body.type === "string" ? body.type.toUpperCase() : undefined,
      name: typeof body.name === "string" ? body.name : "",
      target: typeof body.target === "string" ? body.target : "",
      ttl_sec: typeof body.ttl_sec === "number" ? body.ttl_sec : 0,
    };
    this.validate(draft);
    const rec: LinodeRecord = {
      id: this.nextRecord++,
      type: draft.type!,
      name: draft.name!,
      target: draft.target!,
      priority: typeof body.priority === "number" ? body.priority : 0,
      weight: 0,
      port: 0,
      service: null,
      protocol: null,
      ttl_sec: !seeding && this.createIgnoresTtl ? 0 : roundLinodeTtl(draft.ttl_sec!),
      tag: null,
      created: this.stamp(),
      updated: this.stamp(),
    };
    this.records.get(d.id)!.set(rec.id, rec);
    return rec;
  }

  private update(d: LinodeDomain, id: number, body: Record<string, unknown>): LinodeRecord {
    const current = this.records.get(d.id)!.get(id);
    if (!current) throw new LinodeFailure(404, [{ reason: "Not found" }]);
    const next: LinodeRecord = { ...current };
    if (typeof body.name === "string") next.name = body.name;
    if (typeof body.target === "string") next.target = body.target;
    if (typeof body.ttl_sec === "number") {
      if (this.ignoreTtlWrites > 0) this.ignoreTtlWrites--;
      else next.ttl_sec = body.ttl_sec;
    }
    if (typeof body.priority === "number") next.priority = body.priority;
    this.validate(next);
    next.ttl_sec = roundLinodeTtl(next.ttl_sec);
    next.updated = this.stamp();
    this.records.get(d.id)!.set(id, next);
    return next;
  }

  private auth(entry: LoggedRequest): void {
    const m = /^Bearer (.+)$/.exec(entry.authorization ?? "");
    if (!m || !this.tokens.includes(m[1]!)) throw new LinodeFailure(401, [{ reason: "Invalid Token" }]);
  }

  private domain(id: string): LinodeDomain {
    const d = this.domains.get(Number(id));
    if (!d) throw new LinodeFailure(404, [{ reason: "Not found" }]);
    return d;
  }

  private page<T>(items: T[], q: Record<string, string>) {
    const page = Math.max(1, Number(q.page ?? 1) || 1);
    const size = Number(q.page_size ?? 100) || 100;
    if (size < 25 || size > 500) throw new LinodeFailure(400, [{ field: "page_size", reason: "Must be 25-500" }]);
    const pages = Math.max(1, Math.ceil(items.length / size));
    if (page > pages) throw new LinodeFailure(400, [{ field: "page", reason: `Must be 1-${pages}` }]);
    return { data: items.slice((page - 1) * size, page * size), page, pages, results: items.length };
  }

  private filter(header: string | null, d: LinodeDomain): boolean {
    if (!header) return true;
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(header) as Record<string, unknown>;
    } catch {
      throw new LinodeFailure(400, [{ reason: "Cannot parse X-Filter header" }]);
    }
    return Object.entries(f).every(([k, v]) => (d as unknown as Record<string, unknown>)[k] === v);
  }

  private route(entry: LoggedRequest, request: Request): [number, unknown] {
    this.auth(entry);
    const path = entry.path.slice(new URL(this.baseUrl).pathname.length);
    const body = (entry.body ?? {}) as Record<string, unknown>;
    const q = entry.query;
    let m: RegExpExecArray | null;
    if (path === "/domains" && entry.method === "GET") {
      const filter = request.headers.get("x-filter");
      return [
        200,
        this.page(
          [...this.domains.values()].filter((d) => this.filter(filter, d)),
          q,
        ),
      ];
    }
    if ((m = /^\/domains\/(\d+)$/.exec(path)) && entry.method === "GET") return [200, this.domain(m[1]!)];
    if ((m = /^\/domains\/(\d+)\/records$/.exec(path))) {
      const d = this.domain(m[1]!);
      if (entry.method === "GET") return [200, this.page([...this.records.get(d.id)!.values()], q)];
      if (entry.method === "POST") return [200, this.create(d, body)];
    }
    if ((m = /^\/domains\/(\d+)\/records\/(\d+)$/.exec(path))) {
      const d = this.domain(m[1]!);
      const id = Number(m[2]);
      if (entry.method === "GET") {
        const r = this.records.get(d.id)!.get(id);
        if (!r) throw new LinodeFailure(404, [{ reason: "Not found" }]);
        return [200, r];
      }
      if (entry.method === "PUT") return [200, this.update(d, id, body)];
    }
    if ((m = /^\/networking\/ips\/([^/]+)$/.exec(path))) {
      const ip = this.ips.get(decodeURIComponent(m[1]!));
      if (!ip) throw new LinodeFailure(404, [{ reason: "Not found" }]);
      if (entry.method === "GET") return [200, ip];
      if (entry.method === "PUT") {
        const rdns = body.rdns === null || body.rdns === undefined ? null : String(body.rdns);
        if (rdns !== null && !this.resolves(rdns, ip.address)) {
          throw new LinodeFailure(400, [
            { field: "rdns", reason: `${rdns} does not resolve to ${ip.address}; add the forward record first` },
          ]);
        }
        ip.rdns = rdns;
        return [200, ip];
      }
    }
    throw new LinodeFailure(404, [{ reason: "Not found" }]);
  }

  /** Linode checks that an rDNS name resolves to the address; the fake checks its own domains. */
  private resolves(name: string, address: string): boolean {
    const n = name.toLowerCase().replace(/\.$/, "");
    for (const d of this.domains.values()) {
      if (n !== d.domain && !n.endsWith(`.${d.domain}`)) continue;
      const rel = n === d.domain ? "" : n.slice(0, -(d.domain.length + 1));
      for (const r of this.records.get(d.id)!.values()) {
        if (r.name === rel && (r.type === "A" || r.type === "AAAA") && r.target === address) return true;
      }
    }
    return false;
  }

  private async handle(request: Request): Promise<Response> {
    const entry = this.record(request, await readJson(request));
    await this.latency();
    const answer = (status: number, payload: unknown, headers?: Record<string, string>) => {
      entry.status = status;
      entry.doneAt = this.now();
      return HttpResponse.json(payload as Record<string, unknown>, { status, ...(headers ? { headers } : {}) });
    };
    const collection = entry.method === "GET" && /\/(domains|records)$/.test(entry.path);
    const wait = this.overLimit() ?? (collection ? this.overLimit(this.collectionRateLimit, "collections") : undefined);
    if (wait !== undefined) {
      return answer(429, { errors: [{ reason: "Too Many Requests" }] }, { "Retry-After": String(wait) });
    }
    const fault = this.faultFor(entry);
    if (fault?.kind === "status") {
      return answer(
        fault.status,
        { errors: [{ reason: fault.status === 429 ? "Too Many Requests" : "Please try again" }] },
        fault.status === 429 ? { "Retry-After": String(fault.retryAfter ?? 1) } : undefined,
      );
    }
    if (fault?.kind === "timeout") {
      await new Promise((r) => setTimeout(r, fault.ms).unref());
      entry.status = 0;
      return HttpResponse.error();
    }
    if (fault?.kind === "network") {
      entry.status = 0;
      return HttpResponse.error();
    }
    let result: [number, unknown];
    try {
      result = this.route(entry, request);
    } catch (error) {
      if (!(error instanceof LinodeFailure)) throw error;
      return answer(error.status, { errors: error.errors });
    }
    if (fault?.kind === "lost") {
      entry.status = 0;
      return HttpResponse.error();
    }
    return answer(result[0], result[1]);
  }

  get handlers(): RequestHandler[] {
    return [http.all(`${this.baseUrl}/*`, ({ request }) => this.handle(request))];
  }
}
