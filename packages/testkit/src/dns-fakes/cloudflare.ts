import { isIP } from "node:net";
import { http, HttpResponse, type RequestHandler } from "msw";
import { FakeBase, readJson, type FakeSwitches, type LoggedRequest } from "./_common.js";

/**
 * A stateful fake of Cloudflare's API v4 for zones and DNS records, speaking its envelope
 * (`{success, errors, messages, result, result_info}`), page/per_page pagination, error codes, PATCH/PUT
 * semantics, the batch endpoint (deletes → patches → puts → posts, all or nothing) and the rate limit
 * (1200 requests per 5 minutes, 429 with Retry-After).
 */
export const CLOUDFLARE_URL = "https://api.cloudflare.com/client/v4";

export interface CfRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  proxiable: boolean;
  proxied: boolean;
  /** 1 = automatic. */
  ttl: number;
  priority?: number;
  comment: string | null;
  tags: string[];
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
  created_on: string;
  modified_on: string;
}

export interface CfZone {
  id: string;
  name: string;
  status: "active";
}

export interface CloudflareFakeOptions {
  baseUrl?: string;
  /** Tokens the fake accepts; `read` tokens get 10000 on writes. */
  tokens?: Record<string, "read" | "write">;
  /** Records per batch call (Free 200, paid 3500). */
  maxBatch?: number;
  switches?: Partial<FakeSwitches>;
}

interface CfError {
  code: number;
  message: string;
}

class CfFailure extends Error {
  readonly status: number;
  readonly errors: CfError[];
  constructor(status: number, errors: CfError[]) {
    super(errors.map((e) => `${e.code} ${e.message}`).join("; "));
    this.status = status;
    this.errors = errors;
  }
}

const PROXIABLE = new Set(["A", "AAAA", "CNAME"]);

function hexId(n: number, salt: string): string {
  return (salt + n.toString(16)).padStart(32, "0").slice(-32);
}

export class CloudflareFake extends FakeBase {
  readonly baseUrl: string;
  readonly zones = new Map<string, CfZone>();
  /** zone id → record id → record */
  readonly records = new Map<string, Map<string, CfRecord>>();
  readonly tokens: Record<string, "read" | "write">;
  readonly maxBatch: number;
  private nextId = 1;

  constructor(options: CloudflareFakeOptions = {}) {
    super({ rateLimit: { requests: 1200, windowMs: 300_000 }, ...options.switches });
    this.baseUrl = options.baseUrl ?? CLOUDFLARE_URL;
    this.tokens = options.tokens ?? { "cf-test-token-0123456789": "write" };
    this.maxBatch = options.maxBatch ?? 200;
  }

  addZone(name: string): CfZone {
    const zone: CfZone = { id: hexId(this.nextId++, "2a"), name, status: "active" };
    this.zones.set(zone.id, zone);
    this.records.set(zone.id, new Map());
    return zone;
  }

  /** Seeds a record; `name` is relative to the zone ("@" or "" for the apex) or absolute. */
  addRecord(
    zoneName: string,
    r: {
      name: string;
      type: string;
      content: string;
      ttl?: number;
      proxied?: boolean;
      comment?: string;
      tags?: string[];
    },
  ): CfRecord {
    const zone = this.zoneByName(zoneName);
    const mx = r.type === "MX" ? /^(\d+)\s+(.+)$/.exec(r.content) : null;
    const fields = mx ? { content: mx[2]!, priority: Number(mx[1]) } : {};
    return this.create(zone, { ...r, ...fields, name: this.fqdn(r.name, zone) });
  }

  zoneByName(name: string): CfZone {
    const z = [...this.zones.values()].find((x) => x.name === name);
    if (!z) throw new Error(`fake: no zone ${name}`);
    return z;
  }

  /** Every record of a zone, in creation order. */
  list(zoneName: string): CfRecord[] {
    return [...this.records.get(this.zoneByName(zoneName).id)!.values()];
  }

  find(zoneName: string, name: string, type: string): CfRecord[] {
    const zone = this.zoneByName(zoneName);
    const fq = this.fqdn(name, zone);
    return this.list(zoneName).filter((r) => r.name === fq && r.type === type);
  }

  private fqdn(name: string, zone: CfZone): string {
    const n = name.toLowerCase().replace(/\.$/, "");
    if (n === "@" || n === "") return zone.name;
    return n === zone.name || n.endsWith(`.${zone.name}`) ? n : `${n}.${zone.name}`;
  }

  private stamp(): string {
    return new Date(this.now()).toISOString();
  }

  private validate(zone: CfZone, r: Partial<CfRecord>, selfId?: string): void {
    if (!r.type || !r.name || r.content === undefined) {
      throw new CfFailure(400, [{ code: 9000, message: "DNS name, type and content are required." }]);
    }
    if (r.type === "A" && isIP(r.content) !== 4) {
      throw new CfFailure(400, [{ code: 9005, message: "Content for A record must be a valid IPv4 address." }]);
    }
    if (r.type === "AAAA" && isIP(r.content) !== 6) {
      throw new CfFailure(400, [{ code: 9006, message: "Content for AAAA record must be a valid IPv6 address." }]);
    }
    const ttl = r.ttl ?? 1;
    if (!(ttl === 1 || (ttl >= 60 && ttl <= 86400))) {
      throw new CfFailure(400, [
        { code: 9021, message: "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic." },
      ]);
    }
    if (r.proxied && !PROXIABLE.has(r.type)) {
      throw new CfFailure(400, [{ code: 9004, message: `This record type cannot be proxied.` }]);
    }
    if (r.name !== zone.name && !r.name.endsWith(`.${zone.name}`)) {
      throw new CfFailure(400, [{ code: 9007, message: "DNS record name must be within the zone." }]);
    }
    for (const other of this.records.get(zone.id)!.values()) {
      if (other.id === selfId) continue;
      if (other.name === r.name && other.type === r.type && other.content === r.content) {
        throw new CfFailure(400, [{ code: 81057, message: "The record already exists." }]);
      }
      if (other.name === r.name && (other.type === "CNAME") !== (r.type === "CNAME")) {
        throw new CfFailure(400, [
          { code: 81053, message: "An A, AAAA, or CNAME record with that host already exists." },
        ]);
      }
    }
  }

  private create(zone: CfZone, body: Record<string, unknown>): CfRecord {
    const type = String(body.type ?? "").toUpperCase();
    const draft: Partial<CfRecord> = {
      name: this.fqdn(String(body.name ?? ""), zone),
      type,
      content: body.content === undefined ? undefined : String(body.content),
      ttl: typeof body.ttl === "number" ? body.ttl : 1,
      proxied: body.proxied === true,
    };
    this.validate(zone, draft);
    const rec: CfRecord = {
      id: hexId(this.nextId++, "7e"),
      zone_id: zone.id,
      zone_name: zone.name,
      name: draft.name!,
      type,
      content: draft.content!,
      proxiable: PROXIABLE.has(type),
      proxied: draft.proxied!,
      ttl: draft.proxied ? 1 : draft.ttl!,
      ...(typeof body.priority === "number" ? { priority: body.priority } : {}),
      comment: typeof body.comment === "string" ? body.comment : null,
      tags: Array.isArray(body.tags) ? (body.tags as string[]) : [],
      settings: {},
      meta: {},
      created_on: this.stamp(),
      modified_on: this.stamp(),
    };
    this.records.get(zone.id)!.set(rec.id, rec);
    return rec;
  }

  /** PATCH keeps every field not given; PUT replaces the record (missing proxied → false, ttl → 1, comment → null). */
  private modify(zone: CfZone, id: string, body: Record<string, unknown>, mode: "patch" | "put"): CfRecord {
    const current = this.records.get(zone.id)!.get(id);
    if (!current) throw new CfFailure(404, [{ code: 81044, message: "Record does not exist." }]);
    const base: Partial<CfRecord> =
      mode === "patch"
        ? { ...current }
        : { name: current.name, type: current.type, ttl: 1, proxied: false, comment: null, tags: [] };
    const next: Partial<CfRecord> = { ...base };
    if (body.name !== undefined) next.name = this.fqdn(String(body.name), zone);
    if (body.type !== undefined) next.type = String(body.type).toUpperCase();
    if (body.content !== undefined) next.content = String(body.content);
    if (typeof body.ttl === "number") next.ttl = body.ttl;
    if (typeof body.proxied === "boolean") next.proxied = body.proxied;
    if (body.comment !== undefined) next.comment = body.comment === null ? null : String(body.comment);
    if (Array.isArray(body.tags)) next.tags = body.tags as string[];
    if (mode === "put" && body.content === undefined) next.content = undefined;
    this.validate(zone, next, id);
    const updated: CfRecord = {
      ...current,
      ...(next as CfRecord),
      id,
      proxiable: PROXIABLE.has(next.type!),
      ttl: next.proxied ? 1 : next.ttl!,
      modified_on: this.stamp(),
    };
    this.records.get(zone.id)!.set(id, updated);
    return updated;
  }

  private remove(zone: CfZone, id: string): CfRecord {
    const current = this.records.get(zone.id)!.get(id);
    if (!current) throw new CfFailure(404, [{ code: 81044, message: "Record does not exist." }]);
    this.records.get(zone.id)!.delete(id);
    return current;
  }

  private zoneById(id: string): CfZone {
    const zone = this.zones.get(id);
    if (!zone) {
      throw new CfFailure(400, [
        {
          code: 7003,
          message: `Could not route to /zones/${id}/dns_records, perhaps your object identifier is invalid?`,
        },
        { code: 7000, message: "No route for that URI" },
      ]);
    }
    return zone;
  }

  private batch(zone: CfZone, body: Record<string, unknown>, failAt: number | undefined): unknown {
    const arr = (k: string) => (Array.isArray(body[k]) ? (body[k] as Array<Record<string, unknown>>) : []);
    const deletes = arr("deletes");
    const patches = arr("patches");
    const puts = arr("puts");
    const posts = arr("posts");
    const total = deletes.length + patches.length + puts.length + posts.length;
    if (total > this.maxBatch) {
      // The code is ours: no public source gives the one Cloudflare answers an oversized batch with. The
      // provider splits at batchSize and reports any error as it comes, so nothing depends on the number.
      throw new CfFailure(400, [
        { code: 81049, message: `Batch of ${total} operations exceeds the zone's limit of ${this.maxBatch}.` },
      ]);
    }
    // All or nothing: work on the live maps, restore the snapshot on any failure.
    const snapshot = new Map(this.records.get(zone.id)!);
    let op = 0;
    const step = <T>(fn: () => T): T => {
      if (failAt !== undefined && op === failAt) {
        throw new CfFailure(500, [
          { code: 1000, message: "Internal error while applying the batch; nothing was applied." },
        ]);
      }
      op++;
      return fn();
    };
    try {
      const result = {
        deletes: deletes.map((d) => step(() => this.remove(zone, String(d.id)))),
        patches: patches.map((p) => step(() => this.modify(zone, String(p.id), p, "patch"))),
        puts: puts.map((p) => step(() => this.modify(zone, String(p.id), p, "put"))),
        posts: posts.map((p) => step(() => this.create(zone, p))),
      };
      return result;
    } catch (error) {
      this.records.set(zone.id, snapshot);
      throw error;
    }
  }

  private auth(entry: LoggedRequest, write: boolean): void {
    const m = /^Bearer (.+)$/.exec(entry.authorization ?? "");
    if (!m) {
      throw new CfFailure(400, [{ code: 9106, message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers" }]);
    }
    const scope = this.tokens[m[1]!];
    if (!scope) throw new CfFailure(403, [{ code: 9109, message: "Invalid access token" }]);
    if (write && scope !== "write") throw new CfFailure(403, [{ code: 10000, message: "Authentication error" }]);
  }

  private page<T>(items: T[], query: Record<string, string>, defaultPer: number, maxPer: number) {
    const page = Math.max(1, Number(query.page ?? 1) || 1);
    const per = Math.min(maxPer, Math.max(5, Number(query.per_page ?? defaultPer) || defaultPer));
    const slice = items.slice((page - 1) * per, page * per);
    return {
      result: slice,
      result_info: {
        page,
        per_page: per,
        count: slice.length,
        total_count: items.length,
        total_pages: Math.max(1, Math.ceil(items.length / per)),
      },
    };
  }

  /** Routes one request; returns [status, result, result_info?]. */
  private route(entry: LoggedRequest, failAt: number | undefined): [number, unknown, unknown?] {
    const path = entry.path.slice(new URL(this.baseUrl).pathname.length);
    const q = entry.query;
    const body = (entry.body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (entry.method === "GET" && path === "/zones") {
      this.auth(entry, false);
      const zones = [...this.zones.values()].filter((z) => !q.name || z.name === q.name);
      const p = this.page(zones, q, 20, 50);
      return [200, p.result, p.result_info];
    }
    if ((m = /^\/zones\/([^/]+)\/dns_records\/batch$/.exec(path)) && entry.method === "POST") {
      this.auth(entry, true);
      return [200, this.batch(this.zoneById(m[1]!), body, failAt)];
    }
    if ((m = /^\/zones\/([^/]+)\/dns_records$/.exec(path))) {
      const zone = this.zoneById(m[1]!);
      if (entry.method === "GET") {
        this.auth(entry, false);
        const name = q.name ?? q["name.exact"];
        const items = [...this.records.get(zone.id)!.values()].filter(
          (r) =>
            (!name || r.name === name.toLowerCase()) &&
            (!q.type || r.type === q.type) &&
            (!q.content || r.content === q.content),
        );
        const p = this.page(items, q, 100, 5000);
        return [200, p.result, p.result_info];
      }
      if (entry.method === "POST") {
        this.auth(entry, true);
        return [200, this.create(zone, body)];
      }
    }
    if ((m = /^\/zones\/([^/]+)\/dns_records\/([^/]+)$/.exec(path))) {
      const zone = this.zoneById(m[1]!);
      const id = m[2]!;
      if (entry.method === "GET") {
        this.auth(entry, false);
        const r = this.records.get(zone.id)!.get(id);
        if (!r) throw new CfFailure(404, [{ code: 81044, message: "Record does not exist." }]);
        return [200, r];
      }
      this.auth(entry, true);
      if (entry.method === "PATCH") return [200, this.modify(zone, id, body, "patch")];
      if (entry.method === "PUT") return [200, this.modify(zone, id, body, "put")];
      if (entry.method === "DELETE") return [200, { id: this.remove(zone, id).id }];
    }
    throw new CfFailure(400, [
      { code: 7003, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
      { code: 7000, message: "No route for that URI" },
    ]);
  }

  private async handle(request: Request): Promise<Response> {
    const entry = this.record(request, await readJson(request));
    await this.latency();
    const answer = (status: number, payload: unknown, headers?: Record<string, string>) => {
      entry.status = status;
      entry.doneAt = this.now();
      return HttpResponse.json(payload as Record<string, unknown>, { status, ...(headers ? { headers } : {}) });
    };
    const failure = (status: number, errors: CfError[], headers?: Record<string, string>) =>
      answer(status, { success: false, errors, messages: [], result: null }, headers);
    const wait = this.overLimit();
    // 971 "Please wait and consider throttling your request speed" is what Cloudflare's API answers when
    // throttling (as reported in cloudflare/workers-sdk#10025 and by API clients hitting 1200 / 5 min).
    if (wait !== undefined) {
      return failure(429, [{ code: 971, message: "Please wait and consider throttling your request speed" }], {
        "Retry-After": String(wait),
      });
    }
    const fault = this.faultFor(entry);
    if (fault?.kind === "status") {
      const headers = fault.status === 429 ? { "Retry-After": String(fault.retryAfter ?? 1) } : undefined;
      const errors =
        fault.status === 429
          ? [{ code: 971, message: "Please wait and consider throttling your request speed" }]
          : [{ code: 10001, message: "service temporarily unavailable" }];
      return failure(fault.status, errors, headers);
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
    if (entry.body && typeof entry.body === "object" && "__invalidJson" in entry.body) {
      return failure(400, [{ code: 9207, message: "Request body is invalid." }]);
    }
    let status: number;
    let payload: unknown;
    try {
      const [s, result, info] = this.route(entry, fault?.kind === "batch-fail" ? fault.at : undefined);
      status = s;
      payload = { success: true, errors: [], messages: [], result, ...(info ? { result_info: info } : {}) };
    } catch (error) {
      if (!(error instanceof CfFailure)) throw error;
      return failure(error.status, error.errors);
    }
    if (fault?.kind === "lost") {
      entry.status = 0;
      return HttpResponse.error();
    }
    return answer(status, payload);
  }

  get handlers(): RequestHandler[] {
    return [http.all(`${this.baseUrl}/*`, ({ request }) => this.handle(request))];
  }
}
