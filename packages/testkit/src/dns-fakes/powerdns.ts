import { isIP } from "node:net";
import { http, HttpResponse, type RequestHandler } from "msw";
import { FakeBase, readJson, type FakeSwitches, type LoggedRequest } from "./_common.js";

/**
 * A stateful fake of the PowerDNS Authoritative HTTP API (`/api/v1/servers/localhost`), checked against a real
 * pdns_server 4.7 (test/providers/powerdns.test.ts runs the same contract on both): `X-API-Key`, zones with
 * trailing-dot ids, `?zone=` filter, a zone's RRsets in one GET, PATCH of `changetype: REPLACE|DELETE`
 * RRsets applied whole or not at all (422 `{"error": ...}` for a bad record, 204 when applied), SOA serial
 * bumped per PATCH, PUT .../notify for Master zones. No rate limit: the server has none of its own.
 */
export interface PdnsFakeRrset {
  name: string;
  type: string;
  ttl: number;
  records: Array<{ content: string; disabled: boolean }>;
}
export interface PdnsFakeZone {
  id: string;
  name: string;
  kind: "Native" | "Master" | "Slave";
  serial: number;
  rrsets: PdnsFakeRrset[];
  notified: number;
}

export interface PowerDnsFakeOptions {
  baseUrl: string;
  keys?: string[];
  switches?: Partial<FakeSwitches>;
}

class PdnsFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const fq = (zone: string, name: string) => (name === "@" ? `${zone}.` : `${name}.${zone}.`);

export class PowerDnsFake extends FakeBase {
  readonly baseUrl: string;
  readonly keys: string[];
  readonly zones = new Map<string, PdnsFakeZone>();

  constructor(options: PowerDnsFakeOptions) {
    super({ rateLimit: { requests: 0, windowMs: 1000 }, ...options.switches });
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.keys = options.keys ?? ["pdns-fake-key-0123456789"];
  }

  /** Seeds a zone; records with relative names ("@" = apex) and cutover content (quoted/dotted here). */
  addZone(
    zone: string,
    records: ReadonlyArray<{ name: string; type: string; content: string; ttl: number }>,
    kind: PdnsFakeZone["kind"] = "Native",
  ): PdnsFakeZone {
    const z: PdnsFakeZone = { id: `${zone}.`, name: `${zone}.`, kind, serial: 2026010101, rrsets: [], notified: 0 };
    z.rrsets.push({
      name: `${zone}.`,
      type: "SOA",
      ttl: 3600,
      records: [{ content: `ns1.${zone}. hostmaster.${zone}. ${z.serial} 10800 3600 604800 3600`, disabled: false }],
    });
    for (const r of records) {
      const name = fq(zone, r.name);
      const content =
        r.type === "TXT" ? `"${r.content}"` : ["CNAME", "NS", "MX"].includes(r.type) ? `${r.content}.` : r.content;
      let s = z.rrsets.find((x) => x.name === name && x.type === r.type);
      if (!s) z.rrsets.push((s = { name, type: r.type, ttl: r.ttl, records: [] }));
      s.records.push({ content, disabled: false });
    }
    this.zones.set(z.id, z);
    return z;
  }

  rrset(zone: string, name: string, type: string): PdnsFakeRrset | undefined {
    return this.zones.get(`${zone}.`)?.rrsets.find((s) => s.name === fq(zone, name) && s.type === type);
  }

  private check(r: PdnsFakeRrset): void {
    for (const rec of r.records) {
      const bad =
        (r.type === "A" && isIP(rec.content) !== 4) ||
        (r.type === "AAAA" && isIP(rec.content) !== 6) ||
        (r.type === "TXT" && !/^".*"$/.test(rec.content)) ||
        (["CNAME", "NS"].includes(r.type) && !rec.content.endsWith("."));
      if (bad) throw new PdnsFailure(422, `Record ${r.name}/${r.type} '${rec.content}': Not in expected format`);
    }
    if (!r.name.endsWith(".")) throw new PdnsFailure(422, `Name ${r.name} is not canonical`);
    if (!Number.isInteger(r.ttl) || r.ttl < 0) throw new PdnsFailure(422, `TTL ${r.ttl} is not valid`);
  }

  private patch(z: PdnsFakeZone, body: unknown): void {
    const sets = (body as { rrsets?: Array<PdnsFakeRrset & { changetype: string }> })?.rrsets;
    if (!Array.isArray(sets)) throw new PdnsFailure(400, "No rrsets given in body");
    if (z.kind === "Slave") throw new PdnsFailure(422, `Zone ${z.name} is a Slave zone`);
    // All or nothing: work on a copy.
    const next = z.rrsets.map((s) => ({ ...s, records: [...s.records] }));
    for (const s of sets) {
      if (!s.name.endsWith(z.name)) throw new PdnsFailure(422, `RRset ${s.name} IN ${s.type}: Name is out of zone`);
      const i = next.findIndex((x) => x.name === s.name && x.type === s.type);
      if (s.changetype === "DELETE") {
        if (i >= 0) next.splice(i, 1);
      } else if (s.changetype === "REPLACE") {
        const r: PdnsFakeRrset = { name: s.name, type: s.type, ttl: s.ttl, records: s.records ?? [] };
        this.check(r);
        if (i >= 0) next[i] = r;
        else next.push(r);
      } else throw new PdnsFailure(422, `Changetype not understood`);
    }
    z.rrsets = next;
    z.serial++;
    const soa = z.rrsets.find((s) => s.type === "SOA");
    if (soa) soa.records[0]!.content = soa.records[0]!.content.replace(/ \d+ (\d+ \d+ \d+ \d+)$/, ` ${z.serial} $1`);
  }

  private route(entry: LoggedRequest, request: Request): [number, unknown] {
    if (!this.keys.includes(request.headers.get("x-api-key") ?? "")) throw new PdnsFailure(401, "Unauthorized");
    const path = entry.path.slice(new URL(this.baseUrl).pathname.replace(/\/$/, "").length);
    let m: RegExpExecArray | null;
    if (path === "/api/v1/servers/localhost/zones" && entry.method === "GET") {
      const want = entry.query.zone;
      return [
        200,
        [...this.zones.values()]
          .filter((z) => !want || z.name === want)
          .map(({ rrsets: _r, notified: _n, ...z }) => ({ ...z, url: `/api/v1/servers/localhost/zones/${z.id}` })),
      ];
    }
    if ((m = /^\/api\/v1\/servers\/localhost\/zones\/([^/]+)(\/notify)?$/.exec(path))) {
      const z = this.zones.get(decodeURIComponent(m[1]!));
      if (!z) throw new PdnsFailure(404, "Not Found");
      if (m[2]) {
        if (entry.method !== "PUT") throw new PdnsFailure(405, "Method Not Allowed");
        if (z.kind !== "Master") throw new PdnsFailure(422, "Zone is not a Master zone");
        z.notified++;
        return [200, { result: "Notification queued" }];
      }
      if (entry.method === "GET") {
        const { notified: _n, ...rest } = z;
        return [200, rest];
      }
      if (entry.method === "PATCH") {
        this.patch(z, entry.body);
        return [204, undefined];
      }
    }
    throw new PdnsFailure(404, "Not Found");
  }

  private async handle(request: Request): Promise<Response> {
    const entry = this.record(request, await readJson(request));
    entry.authorization = request.headers.get("authorization");
    await this.latency();
    const answer = (status: number, payload: unknown) => {
      entry.status = status;
      entry.doneAt = this.now();
      if (status === 204) return new HttpResponse(null, { status });
      return HttpResponse.json(payload as Record<string, unknown>, { status });
    };
    const fault = this.faultFor(entry);
    if (fault?.kind === "status") {
      return answer(fault.status, { error: fault.status === 429 ? "Too Many Requests" : "Service Unavailable" });
    }
    if (fault?.kind === "network" || fault?.kind === "timeout") {
      if (fault.kind === "timeout") await new Promise((r) => setTimeout(r, fault.ms).unref());
      entry.status = 0;
      return HttpResponse.error();
    }
    let result: [number, unknown];
    try {
      result = this.route(entry, request);
    } catch (error) {
      if (!(error instanceof PdnsFailure)) throw error;
      return answer(error.status, { error: error.message });
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
