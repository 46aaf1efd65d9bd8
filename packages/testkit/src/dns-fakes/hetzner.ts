import { isIP } from "node:net";
import { http, HttpResponse, type RequestHandler } from "msw";
import { FakeBase, readJson, type FakeSwitches, type LoggedRequest } from "./_common.js";

/**
 * A stateful fake of the Hetzner Cloud API's DNS part (`/v1/zones`, `/v1/zones/{id_or_name}/rrsets`): Bearer
 * tokens, `meta.pagination` pages (`per_page` up to 50), RRsets named relative to the zone ("@" = apex) with
 * `ttl: null` for the zone's default, `set_records` and `change_ttl` actions that run asynchronously (the
 * first look at an action finds it running, the next finds it done), change protection, secondary zones
 * refused (`incorrect_zone_mode`), `{error: {code, message}}` errors, and 3,600 requests per hour answered
 * with 429 `rate_limit_exceeded`.
 */
export const HETZNER_URL = "https://api.hetzner.cloud/v1";

export interface HetznerFakeRrset {
  name: string;
  type: string;
  ttl: number | null;
  records: Array<{ value: string; comment?: string }>;
  protection: { change: boolean };
}
export interface HetznerFakeZone {
  id: number;
  name: string;
  mode: "primary" | "secondary";
  ttl: number;
  rrsets: HetznerFakeRrset[];
}
interface Action {
  id: number;
  command: string;
  status: "running" | "success" | "error";
  progress: number;
  started: string;
  finished: string | null;
  resources: Array<{ id: number; type: string }>;
  error: null | { code: string; message: string };
  /** Applied when the action finishes. */
  apply?: () => void;
}

export interface HetznerFakeOptions {
  baseUrl?: string;
  tokens?: string[];
  switches?: Partial<FakeSwitches>;
}

class HFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class HetznerFake extends FakeBase {
  readonly baseUrl: string;
  readonly tokens: string[];
  readonly zones = new Map<number, HetznerFakeZone>();
  readonly actions = new Map<number, Action>();
  /** The next action started ends in this error, applying nothing. */
  failNextAction: { code: string; message: string } | undefined;
  private nextZone = 100;
  private nextAction = 7000;

  constructor(options: HetznerFakeOptions = {}) {
    super({ rateLimit: { requests: 3600, windowMs: 3_600_000 }, ...options.switches });
    this.baseUrl = (options.baseUrl ?? HETZNER_URL).replace(/\/$/, "");
    this.tokens = options.tokens ?? ["hcloud-fake-token-0123456789abcdef"];
  }

  addZone(name: string, mode: HetznerFakeZone["mode"] = "primary", ttl = 3600): HetznerFakeZone {
    const z: HetznerFakeZone = { id: this.nextZone++, name, mode, ttl, rrsets: [] };
    this.zones.set(z.id, z);
    return z;
  }

  /** Seeds a record into its RRset; content as cutover writes it (quoted/dotted here); ttl null = zone default. */
  addRecord(zone: string, r: { name: string; type: string; content: string; ttl: number | null }): void {
    const z = this.zone(zone);
    const value =
      r.type === "TXT" ? `"${r.content}"` : ["CNAME", "NS", "MX"].includes(r.type) ? `${r.content}.` : r.content;
    let s = z.rrsets.find((x) => x.name === r.name && x.type === r.type);
    if (!s) z.rrsets.push((s = { name: r.name, type: r.type, ttl: r.ttl, records: [], protection: { change: false } }));
    s.records.push({ value });
  }

  rrset(zone: string, name: string, type: string): HetznerFakeRrset | undefined {
    return this.zone(zone).rrsets.find((s) => s.name === name && s.type === type);
  }

  private zone(idOrName: string): HetznerFakeZone {
    const z = [...this.zones.values()].find((x) => String(x.id) === idOrName || x.name === idOrName);
    if (!z) throw new HFailure(404, "not_found", "zone not found");
    return z;
  }

  private page<T>(key: string, items: T[], q: Record<string, string>) {
    const perPage = Number(q.per_page ?? 25) || 25;
    if (perPage < 1 || perPage > 50) throw new HFailure(400, "invalid_input", "per_page must be between 1 and 50");
    const page = Math.max(1, Number(q.page ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    return {
      [key]: items.slice((page - 1) * perPage, page * perPage),
      meta: {
        pagination: {
          page,
          per_page: perPage,
          previous_page: page > 1 ? page - 1 : null,
          next_page: page < last ? page + 1 : null,
          last_page: last,
          total_entries: items.length,
        },
      },
    };
  }

  private validate(type: string, values: string[]): void {
    for (const v of values) {
      const bad =
        (type === "A" && isIP(v) !== 4) ||
        (type === "AAAA" && isIP(v) !== 6) ||
        (type === "TXT" && !/^".*"$/.test(v)) ||
        (["CNAME", "NS"].includes(type) && !v.endsWith("."));
      if (bad) throw new HFailure(422, "invalid_input", `invalid record value '${v}' for type ${type}`);
    }
  }

  private start(command: string, z: HetznerFakeZone, apply: () => void): Action {
    const a: Action = {
      id: this.nextAction++,
      command,
      status: "running",
      progress: 0,
      started: new Date(this.now()).toISOString(),
      finished: null,
      resources: [{ id: z.id, type: "zone" }],
      error: this.failNextAction ?? null,
      apply,
    };
    this.failNextAction = undefined;
    this.actions.set(a.id, a);
    return a;
  }

  /** An action is found running at its first look and done (applied) at the next. */
  private look(a: Action): Action {
    if (a.status === "running" && a.progress > 0 && a.error) {
      a.status = "error";
      a.finished = new Date(this.now()).toISOString();
    } else if (a.status === "running" && a.progress > 0) {
      a.apply?.();
      a.status = "success";
      a.progress = 100;
      a.finished = new Date(this.now()).toISOString();
    } else if (a.status === "running") a.progress = 50;
    return a;
  }

  private view(a: Action) {
    const { apply: _a, ...rest } = a;
    return a.status === "running" ? { ...rest, error: null } : rest;
  }

  private route(entry: LoggedRequest, ids: number[]): [number, unknown] {
    const m0 = /^Bearer (.+)$/.exec(entry.authorization ?? "");
    if (!m0 || !this.tokens.includes(m0[1]!)) throw new HFailure(401, "unauthorized", "unable to authenticate");
    const path = entry.path.slice(new URL(this.baseUrl).pathname.length);
    const body = (entry.body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (path === "/zones" && entry.method === "GET") {
      const list = [...this.zones.values()]
        .filter((z) => !entry.query.name || z.name === entry.query.name)
        .map(({ rrsets, ...z }) => ({ ...z, status: "ok", record_count: rrsets.length }));
      return [200, this.page("zones", list, entry.query)];
    }
    if ((m = /^\/zones\/actions\/(\d+)$/.exec(path)) && entry.method === "GET") {
      const a = this.actions.get(Number(m[1]));
      if (!a) throw new HFailure(404, "not_found", "action not found");
      return [200, { action: this.view(this.look(a)) }];
    }
    if (path === "/zones/actions" && entry.method === "GET") {
      const list =
        ids.length > 0
          ? ids.map((id) => this.actions.get(id)).filter((a) => a !== undefined)
          : [...this.actions.values()];
      const page = this.page("actions", list, entry.query);
      return [200, { ...page, actions: (page.actions as Action[]).map((a) => this.view(this.look(a))) }];
    }
    if ((m = /^\/zones\/([^/]+)\/rrsets$/.exec(path)) && entry.method === "GET") {
      const z = this.zone(decodeURIComponent(m[1]!));
      const list = z.rrsets.map((s) => ({ ...s, id: `${s.name}/${s.type}`, labels: {}, zone: z.id }));
      return [200, this.page("rrsets", list, entry.query)];
    }
    if ((m = /^\/zones\/([^/]+)\/rrsets\/([^/]+)\/([A-Z]+)\/actions\/(set_records|change_ttl)$/.exec(path))) {
      if (entry.method !== "POST") throw new HFailure(405, "method_not_allowed", "method not allowed");
      const z = this.zone(decodeURIComponent(m[1]!));
      if (z.mode !== "primary")
        throw new HFailure(422, "incorrect_zone_mode", "This operation is not supported for this Zone's mode.");
      const name = decodeURIComponent(m[2]!);
      const s = z.rrsets.find((x) => x.name === name && x.type === m![3]);
      if (!s) throw new HFailure(404, "not_found", "rrset not found");
      if (s.protection.change) throw new HFailure(423, "protected", "rrset is change protected");
      if (m[4] === "set_records") {
        const records = body.records as Array<{ value: string; comment?: string }> | undefined;
        if (!Array.isArray(records) || records.length === 0)
          throw new HFailure(422, "invalid_input", "records must not be empty");
        this.validate(
          s.type,
          records.map((r) => r.value),
        );
        const a = this.start("set_rrset_records", z, () => {
          s.records = records.map((r) => ({ value: r.value, ...(r.comment ? { comment: r.comment } : {}) }));
        });
        return [201, { action: this.view(a) }];
      }
      const ttl = body.ttl;
      if (ttl !== null && (typeof ttl !== "number" || ttl < 60 || ttl > 2147483647))
        throw new HFailure(422, "invalid_input", "ttl must be between 60 and 2147483647");
      const a = this.start("change_rrset_ttl", z, () => {
        s.ttl = ttl as number | null;
      });
      return [201, { action: this.view(a) }];
    }
    throw new HFailure(404, "not_found", "not found");
  }

  private async handle(request: Request): Promise<Response> {
    const entry = this.record(request, await readJson(request));
    await this.latency();
    const answer = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      entry.doneAt = this.now();
      return HttpResponse.json(payload as Record<string, unknown>, { status, headers });
    };
    const limited = () =>
      answer(
        429,
        { error: { code: "rate_limit_exceeded", message: "limit of 3600 requests per hour reached", details: {} } },
        { "RateLimit-Limit": "3600", "RateLimit-Remaining": "0" },
      );
    if (this.overLimit() !== undefined) return limited();
    const fault = this.faultFor(entry);
    if (fault?.kind === "status") {
      if (fault.status === 429) return limited();
      return answer(fault.status, { error: { code: "unavailable", message: "service unavailable", details: {} } });
    }
    if (fault?.kind === "network" || fault?.kind === "timeout") {
      if (fault.kind === "timeout") await new Promise((r) => setTimeout(r, fault.ms).unref());
      entry.status = 0;
      return HttpResponse.error();
    }
    let result: [number, unknown];
    try {
      result = this.route(entry, new URL(request.url).searchParams.getAll("id").map(Number));
    } catch (error) {
      if (!(error instanceof HFailure)) throw error;
      return answer(error.status, { error: { code: error.code, message: error.message, details: {} } });
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
