import { isIP } from "node:net";
import { http, HttpResponse, type RequestHandler } from "msw";
import { FakeBase, readJson, type FakeSwitches, type LoggedRequest } from "./_common.js";

/**
 * A stateful fake of DigitalOcean's API v2 for domains and domain records: Bearer tokens, `{domain_records,
 * links: {pages: {next, last}}, meta: {total}}` pages (`per_page` up to 200), PATCH/PUT of one record,
 * `{id, message, request_id}` errors, TTL at least 30, and the token's limits (250 requests per minute,
 * 5,000 per hour) answered with 429 and `Retry-After` plus the `ratelimit-*` headers.
 */
export const DIGITALOCEAN_URL = "https://api.digitalocean.com/v2";

export interface DoFakeRecord {
  id: number;
  type: string;
  name: string;
  data: string;
  priority: number | null;
  port: number | null;
  ttl: number;
  weight: number | null;
  flags: number | null;
  tag: string | null;
}

export interface DigitalOceanFakeOptions {
  baseUrl?: string;
  tokens?: string[];
  switches?: Partial<FakeSwitches>;
}

class DoFailure extends Error {
  readonly status: number;
  readonly id: string;
  constructor(status: number, id: string, message: string) {
    super(message);
    this.status = status;
    this.id = id;
  }
}

export class DigitalOceanFake extends FakeBase {
  readonly baseUrl: string;
  readonly tokens: string[];
  readonly domains = new Map<string, { name: string; ttl: number; records: Map<number, DoFakeRecord> }>();
  /** The hourly limit, counted apart from the per-minute burst. */
  hourly = { requests: 5000, windowMs: 3_600_000 };
  private nextId = 3_000_000;

  constructor(options: DigitalOceanFakeOptions = {}) {
    super({ rateLimit: { requests: 250, windowMs: 60_000 }, ...options.switches });
    this.baseUrl = (options.baseUrl ?? DIGITALOCEAN_URL).replace(/\/$/, "");
    this.tokens = options.tokens ?? ["dop_v1_fake0123456789abcdef"];
  }

  addDomain(name: string, ttl = 1800): void {
    this.domains.set(name, { name, ttl, records: new Map() });
  }

  /** Seeds a record: `name` relative ("@" = apex), content as cutover writes it (MX `10 host`). */
  addRecord(domain: string, r: { name: string; type: string; content: string; ttl: number }): DoFakeRecord {
    const d = this.domains.get(domain)!;
    const mx = r.type === "MX" ? /^(\d+)\s+(.+)$/.exec(r.content) : null;
    const rec: DoFakeRecord = {
      id: this.nextId++,
      type: r.type,
      name: r.name,
      data: mx ? `${mx[2]}.` : r.type === "CNAME" ? `${r.content}.` : r.content,
      priority: mx ? Number(mx[1]) : null,
      port: null,
      ttl: r.ttl,
      weight: null,
      flags: null,
      tag: null,
    };
    d.records.set(rec.id, rec);
    return rec;
  }

  find(domain: string, name: string, type: string): DoFakeRecord[] {
    return [...this.domains.get(domain)!.records.values()].filter((r) => r.name === name && r.type === type);
  }

  private page<T>(key: string, path: string, items: T[], q: Record<string, string>) {
    const perPage = Math.min(200, Math.max(1, Number(q.per_page ?? 20) || 20));
    const page = Math.max(1, Number(q.page ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (p: number) => `${this.baseUrl}${path}?page=${p}&per_page=${perPage}`;
    const pages: Record<string, string> = {};
    if (page < last) Object.assign(pages, { next: link(page + 1), last: link(last) });
    if (page > 1) Object.assign(pages, { first: link(1), prev: link(page - 1) });
    return {
      [key]: items.slice((page - 1) * perPage, page * perPage),
      links: { pages },
      meta: { total: items.length },
    };
  }

  private update(d: { records: Map<number, DoFakeRecord> }, id: number, body: Record<string, unknown>) {
    const r = d.records.get(id);
    if (!r) throw new DoFailure(404, "not_found", "The resource you were accessing could not be found.");
    const next = { ...r };
    if (typeof body.type === "string" && body.type !== r.type)
      throw new DoFailure(422, "unprocessable_entity", "Type cannot be changed.");
    if (typeof body.data === "string") next.data = body.data;
    if (typeof body.name === "string") next.name = body.name;
    if (typeof body.priority === "number") next.priority = body.priority;
    if (body.ttl !== undefined) {
      if (typeof body.ttl !== "number" || body.ttl < 30)
        throw new DoFailure(422, "unprocessable_entity", "Ttl must be at least 30.");
      next.ttl = body.ttl;
    }
    if (next.type === "A" && isIP(next.data) !== 4)
      throw new DoFailure(422, "unprocessable_entity", "Data needs to be a valid IPv4 address.");
    if (next.type === "AAAA" && isIP(next.data) !== 6)
      throw new DoFailure(422, "unprocessable_entity", "Data needs to be a valid IPv6 address.");
    if (["CNAME", "MX"].includes(next.type) && next.data !== "@" && !next.data.endsWith("."))
      throw new DoFailure(422, "unprocessable_entity", "Data needs to end with a dot (.)");
    d.records.set(id, next);
    return next;
  }

  private route(entry: LoggedRequest): [number, unknown] {
    const m0 = /^Bearer (.+)$/.exec(entry.authorization ?? "");
    if (!m0 || !this.tokens.includes(m0[1]!)) throw new DoFailure(401, "unauthorized", "Unable to authenticate you");
    const path = entry.path.slice(new URL(this.baseUrl).pathname.length);
    const body = (entry.body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (path === "/domains" && entry.method === "GET")
      return [
        200,
        this.page(
          "domains",
          path,
          [...this.domains.values()].map(({ records: _r, ...d }) => ({ ...d, zone_file: "" })),
          entry.query,
        ),
      ];
    if ((m = /^\/domains\/([^/]+)\/records(?:\/(\d+))?$/.exec(path))) {
      const d = this.domains.get(decodeURIComponent(m[1]!));
      if (!d) throw new DoFailure(404, "not_found", "The resource you were accessing could not be found.");
      if (!m[2] && entry.method === "GET")
        return [200, this.page("domain_records", path, [...d.records.values()], entry.query)];
      if (m[2] && entry.method === "GET") {
        const r = d.records.get(Number(m[2]));
        if (!r) throw new DoFailure(404, "not_found", "The resource you were accessing could not be found.");
        return [200, { domain_record: r }];
      }
      if (m[2] && (entry.method === "PATCH" || entry.method === "PUT"))
        return [200, { domain_record: this.update(d, Number(m[2]), body) }];
    }
    throw new DoFailure(404, "not_found", "The resource you were accessing could not be found.");
  }

  private async handle(request: Request): Promise<Response> {
    const entry = this.record(request, await readJson(request));
    await this.latency();
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      entry.doneAt = this.now();
      return HttpResponse.json(payload as Record<string, unknown>, { status, headers });
    };
    const tooMany = (wait: number) =>
      answer(
        429,
        { id: "too_many_requests", message: "API Rate limit exceeded.", request_id: `req-${entry.n}` },
        { "Retry-After": String(wait), "ratelimit-limit": "5000", "ratelimit-remaining": "0" },
      );
    const hourly = this.overLimit(this.hourly, "hourly");
    if (hourly !== undefined) return tooMany(hourly);
    const wait = this.overLimit();
    if (wait !== undefined) return tooMany(wait);
    const fault = this.faultFor(entry);
    if (fault?.kind === "status") {
      if (fault.status === 429) return tooMany(fault.retryAfter ?? 1);
      return answer(fault.status, { id: "server_error", message: "Server was unable to give you a response." });
    }
    if (fault?.kind === "network" || fault?.kind === "timeout") {
      if (fault.kind === "timeout") await new Promise((r) => setTimeout(r, fault.ms).unref());
      entry.status = 0;
      return HttpResponse.error();
    }
    let result: [number, unknown];
    try {
      result = this.route(entry);
    } catch (error) {
      if (!(error instanceof DoFailure)) throw error;
      return answer(error.status, { id: error.id, message: error.message, request_id: `req-${entry.n}` });
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
