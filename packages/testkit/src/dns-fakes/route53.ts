import { isIP } from "node:net";
import { http, HttpResponse, type RequestHandler } from "msw";
import { FakeBase, type FakeSwitches, type LoggedRequest } from "./_common.js";

/**
 * A stateful fake of the Route 53 API (REST with XML, `/2013-04-01/...`) for what cutover uses:
 * ListHostedZones(ByName), ListResourceRecordSets (300 a page, Next* markers, Route 53's order),
 * ChangeResourceRecordSets applied whole or not at all (a DELETE must match the current set exactly, a CREATE
 * must not exist; at most 1,000 values and 32,000 characters per request, UPSERT counted twice), GetChange
 * (PENDING, then INSYNC after `pendingPolls` looks), errors as `<ErrorResponse>` (`InvalidChangeBatch`,
 * `Throttling` past 5 requests per second, `InvalidClientTokenId` for an unknown access key). Requests are
 * signed by the SDK; the fake checks the access key id in the SigV4 Authorization header.
 */
export const ROUTE53_URL = "https://route53.amazonaws.com";
const NS = "https://route53.amazonaws.com/doc/2013-04-01/";

export interface R53Set {
  Name: string;
  Type: string;
  TTL?: number;
  Values: string[];
  SetIdentifier?: string;
  Weight?: number;
  Alias?: { HostedZoneId: string; DNSName: string };
}
export interface R53Zone {
  id: string;
  name: string;
  private: boolean;
  sets: R53Set[];
}

export interface Route53FakeOptions {
  baseUrl?: string;
  accessKeys?: string[];
  switches?: Partial<FakeSwitches>;
}

class R53Failure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const unesc = (s: string) =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, "&");
const tag = (xml: string, name: string) => {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? unesc(m[1]!) : undefined;
};
const all = (xml: string, name: string) =>
  [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g"))].map((m) => m[1]!);
/** Route 53's listing order: names compared label by label from the right, then type. */
const order = (a: R53Set, b: R53Set) => {
  const ka = a.Name.split(".").reverse().join(".");
  const kb = b.Name.split(".").reverse().join(".");
  return ka < kb
    ? -1
    : ka > kb
      ? 1
      : a.Type.localeCompare(b.Type) || (a.SetIdentifier ?? "").localeCompare(b.SetIdentifier ?? "");
};

export class Route53Fake extends FakeBase {
  readonly baseUrl: string;
  readonly accessKeys: string[];
  readonly zones = new Map<string, R53Zone>();
  readonly changes = new Map<
    string,
    { status: "PENDING" | "INSYNC"; looks: number; submitted: string; comment: string }
  >();
  /** GetChange answers PENDING this many times before INSYNC. */
  pendingPolls = 1;
  private nextZone = 1;
  private nextChange = 1;

  constructor(options: Route53FakeOptions = {}) {
    // Route 53: five requests per second per account.
    super({ rateLimit: { requests: 5, windowMs: 1000 }, ...options.switches });
    this.baseUrl = (options.baseUrl ?? ROUTE53_URL).replace(/\/$/, "");
    this.accessKeys = options.accessKeys ?? ["AKIAFAKE0123456789AB"];
  }

  addZone(name: string, isPrivate = false): R53Zone {
    const id = `Z${String(this.nextZone++).padStart(4, "0")}FAKE${isPrivate ? "P" : ""}`;
    const z: R53Zone = { id, name: `${name}.`, private: isPrivate, sets: [] };
    z.sets.push({ Name: `${name}.`, Type: "NS", TTL: 172800, Values: ["ns-1.awsdns-00.com."] });
    z.sets.push({
      Name: `${name}.`,
      Type: "SOA",
      TTL: 900,
      Values: ["ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"],
    });
    this.zones.set(id, z);
    return z;
  }

  /** Seeds a record into its RRset; name relative ("@" = apex), content as cutover writes it. */
  addRecord(zone: R53Zone, r: { name: string; type: string; content: string; ttl: number }): void {
    const name = r.name === "@" ? z(zone) : `${r.name}.${z(zone)}`;
    const value =
      r.type === "TXT" ? `"${r.content}"` : ["CNAME", "NS", "MX"].includes(r.type) ? `${r.content}.` : r.content;
    let s = zone.sets.find((x) => x.Name === name && x.Type === r.type && !x.SetIdentifier);
    if (!s) zone.sets.push((s = { Name: name, Type: r.type, TTL: r.ttl, Values: [] }));
    s.Values.push(value);
  }

  set(zone: R53Zone, name: string, type: string): R53Set | undefined {
    const n = name === "@" ? z(zone) : `${name}.${z(zone)}`;
    return zone.sets.find((s) => s.Name === n && s.Type === type);
  }

  private setXml(s: R53Set): string {
    return [
      "<ResourceRecordSet>",
      `<Name>${esc(s.Name)}</Name><Type>${s.Type}</Type>`,
      s.SetIdentifier ? `<SetIdentifier>${esc(s.SetIdentifier)}</SetIdentifier>` : "",
      s.Weight !== undefined ? `<Weight>${s.Weight}</Weight>` : "",
      s.Alias
        ? `<AliasTarget><HostedZoneId>${s.Alias.HostedZoneId}</HostedZoneId><DNSName>${esc(s.Alias.DNSName)}</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget>`
        : `<TTL>${s.TTL}</TTL><ResourceRecords>${s.Values.map((v) => `<ResourceRecord><Value>${esc(v)}</Value></ResourceRecord>`).join("")}</ResourceRecords>`,
      "</ResourceRecordSet>",
    ].join("");
  }

  private zoneXml(zone: R53Zone): string {
    return `<HostedZone><Id>/hostedzone/${zone.id}</Id><Name>${zone.name}</Name><CallerReference>fake-${zone.id}</CallerReference><Config><PrivateZone>${zone.private}</PrivateZone></Config><ResourceRecordSetCount>${zone.sets.length}</ResourceRecordSetCount></HostedZone>`;
  }

  private parseSet(xml: string): R53Set {
    const ttl = tag(xml, "TTL");
    const weight = tag(xml, "Weight");
    const setId = tag(xml, "SetIdentifier");
    return {
      Name: (tag(xml, "Name") ?? "").toLowerCase().replace(/\.?$/, "."),
      Type: tag(xml, "Type") ?? "",
      ...(ttl !== undefined ? { TTL: Number(ttl) } : {}),
      Values: all(xml, "Value").map(unesc),
      ...(setId !== undefined ? { SetIdentifier: setId } : {}),
      ...(weight !== undefined ? { Weight: Number(weight) } : {}),
    };
  }

  private change(zone: R53Zone, body: string): string {
    const changes = all(body, "Change").map((c) => ({ action: tag(c, "Action") ?? "", set: this.parseSet(c) }));
    if (changes.length === 0) throw new R53Failure(400, "InvalidInput", "ChangeBatch must contain at least one change");
    const values = changes.reduce((n, c) => n + c.set.Values.length * (c.action === "UPSERT" ? 2 : 1), 0);
    const chars = changes.reduce(
      (n, c) => n + c.set.Values.reduce((m, v) => m + v.length, 0) * (c.action === "UPSERT" ? 2 : 1),
      0,
    );
    if (values > 1000) throw new R53Failure(400, "InvalidChangeBatch", "Number of records limit of 1000 exceeded.");
    if (chars > 32000) throw new R53Failure(400, "InvalidChangeBatch", "Number of characters limit of 32000 exceeded.");
    const next = zone.sets.map((s) => ({ ...s, Values: [...s.Values] }));
    const same = (a: R53Set, b: R53Set) =>
      a.Name === b.Name && a.Type === b.Type && (a.SetIdentifier ?? "") === (b.SetIdentifier ?? "");
    const where = (s: R53Set) =>
      `[name='${s.Name}', type='${s.Type}'${s.SetIdentifier ? `, set-identifier='${s.SetIdentifier}'` : ""}]`;
    for (const { action, set } of changes) {
      if (!set.Name.endsWith(zone.name))
        throw new R53Failure(
          400,
          "InvalidChangeBatch",
          `RRSet with DNS name ${set.Name} is not permitted in zone ${zone.name}`,
        );
      for (const v of set.Values) {
        if ((set.Type === "A" && isIP(v) !== 4) || (set.Type === "AAAA" && isIP(v) !== 6))
          throw new R53Failure(
            400,
            "InvalidChangeBatch",
            `ARRDATAIllegalIPv${set.Type === "A" ? 4 : 6}Address (Value is not a valid IPv${set.Type === "A" ? 4 : 6} address)`,
          );
        if (set.Type === "TXT" && !/^".*"$/.test(v))
          throw new R53Failure(
            400,
            "InvalidChangeBatch",
            "Invalid Resource Record: FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks)",
          );
      }
      const i = next.findIndex((s) => same(s, set));
      if (action === "DELETE") {
        const cur = next[i];
        if (!cur)
          throw new R53Failure(
            400,
            "InvalidChangeBatch",
            `Tried to delete resource record set ${where(set)} but it was not found`,
          );
        const equal =
          cur.TTL === set.TTL &&
          cur.Values.length === set.Values.length &&
          cur.Values.every((v) => set.Values.includes(v));
        if (!equal)
          throw new R53Failure(
            400,
            "InvalidChangeBatch",
            `Tried to delete resource record set ${where(set)} but the values provided do not match the current values`,
          );
        next.splice(i, 1);
      } else if (action === "CREATE") {
        if (i >= 0)
          throw new R53Failure(
            400,
            "InvalidChangeBatch",
            `Tried to create resource record set ${where(set)} but it already exists`,
          );
        next.push(set);
      } else if (action === "UPSERT") {
        if (i >= 0) next[i] = set;
        else next.push(set);
      } else throw new R53Failure(400, "InvalidInput", `Invalid action ${action}`);
    }
    zone.sets = next;
    const id = `C${String(this.nextChange++).padStart(6, "0")}FAKE`;
    const submitted = new Date(this.now()).toISOString();
    const comment = tag(body, "Comment") ?? "";
    this.changes.set(id, { status: this.pendingPolls > 0 ? "PENDING" : "INSYNC", looks: 0, submitted, comment });
    return this.changeInfo(id);
  }

  private changeInfo(id: string): string {
    const c = this.changes.get(id)!;
    return `<ChangeInfo><Id>/change/${id}</Id><Status>${c.status}</Status><SubmittedAt>${c.submitted}</SubmittedAt><Comment>${esc(c.comment)}</Comment></ChangeInfo>`;
  }

  private route(entry: LoggedRequest, body: string): string {
    const key = /Credential=([^/]+)\//.exec(entry.authorization ?? "")?.[1];
    if (!key || !entry.authorization?.startsWith("AWS4-HMAC-SHA256 ") || !this.accessKeys.includes(key))
      throw new R53Failure(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
    const path = entry.path.slice(new URL(this.baseUrl).pathname.replace(/\/$/, "").length);
    const q = entry.query;
    let m: RegExpExecArray | null;
    if (path === "/2013-04-01/hostedzonesbyname" && entry.method === "GET") {
      const want = (q.dnsname ?? "").toLowerCase().replace(/\.?$/, ".");
      const zones = [...this.zones.values()]
        .filter((z) => !q.dnsname || z.name >= want)
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      const max = Number(q.maxitems ?? 100);
      return `<ListHostedZonesByNameResponse xmlns="${NS}"><HostedZones>${zones
        .slice(0, max)
        .map((z) => this.zoneXml(z))
        .join(
          "",
        )}</HostedZones>${q.dnsname ? `<DNSName>${esc(q.dnsname)}</DNSName>` : ""}<IsTruncated>${zones.length > max}</IsTruncated><MaxItems>${max}</MaxItems></ListHostedZonesByNameResponse>`;
    }
    if (path === "/2013-04-01/hostedzone" && entry.method === "GET") {
      const zones = [...this.zones.values()];
      const max = Number(q.maxitems ?? 100);
      const start = q.marker ? zones.findIndex((z) => z.id === q.marker) : 0;
      const page = zones.slice(Math.max(0, start), Math.max(0, start) + max);
      const next = zones[Math.max(0, start) + max];
      return `<ListHostedZonesResponse xmlns="${NS}"><HostedZones>${page.map((z) => this.zoneXml(z)).join("")}</HostedZones><Marker>${q.marker ?? ""}</Marker><IsTruncated>${next !== undefined}</IsTruncated>${next ? `<NextMarker>${next.id}</NextMarker>` : ""}<MaxItems>${max}</MaxItems></ListHostedZonesResponse>`;
    }
    if ((m = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/.exec(path))) {
      const zone = this.zones.get(decodeURIComponent(m[1]!));
      if (!zone) throw new R53Failure(404, "NoSuchHostedZone", `No hosted zone found with ID: ${m[1]}`);
      if (entry.method === "POST") {
        return `<ChangeResourceRecordSetsResponse xmlns="${NS}">${this.change(zone, body)}</ChangeResourceRecordSetsResponse>`;
      }
      if (entry.method === "GET") {
        const max = Math.min(300, Number(q.maxitems ?? 300));
        const sets = [...zone.sets].sort(order);
        let start = 0;
        if (q.name) {
          const probe: R53Set = {
            Name: q.name.toLowerCase().replace(/\.?$/, "."),
            Type: q.type ?? "",
            Values: [],
            ...(q.identifier ? { SetIdentifier: q.identifier } : {}),
          };
          start = sets.findIndex((s) => order(s, probe) >= 0);
          if (start < 0) start = sets.length;
        }
        const page = sets.slice(start, start + max);
        const next = sets[start + max];
        return `<ListResourceRecordSetsResponse xmlns="${NS}"><ResourceRecordSets>${page.map((s) => this.setXml(s)).join("")}</ResourceRecordSets><IsTruncated>${next !== undefined}</IsTruncated>${next ? `<NextRecordName>${esc(next.Name)}</NextRecordName><NextRecordType>${next.Type}</NextRecordType>${next.SetIdentifier ? `<NextRecordIdentifier>${esc(next.SetIdentifier)}</NextRecordIdentifier>` : ""}` : ""}<MaxItems>${max}</MaxItems></ListResourceRecordSetsResponse>`;
      }
    }
    if ((m = /^\/2013-04-01\/change\/([^/]+)$/.exec(path)) && entry.method === "GET") {
      const id = decodeURIComponent(m[1]!);
      const c = this.changes.get(id);
      if (!c) throw new R53Failure(404, "NoSuchChange", `Could not find resource with ID: ${id}`);
      if (c.status === "PENDING" && ++c.looks > this.pendingPolls) c.status = "INSYNC";
      return `<GetChangeResponse xmlns="${NS}">${this.changeInfo(id)}</GetChangeResponse>`;
    }
    throw new R53Failure(404, "UnknownOperationException", `Unknown operation ${entry.method} ${path}`);
  }

  private async handle(request: Request): Promise<Response> {
    const body = request.method === "POST" ? await request.text() : "";
    const entry = this.record(request, body || undefined);
    await this.latency();
    const xml = (status: number, text: string) => {
      entry.status = status;
      entry.doneAt = this.now();
      return new HttpResponse(`<?xml version="1.0"?>\n${text}`, {
        status,
        headers: { "content-type": "text/xml", "x-amzn-requestid": `req-${entry.n}` },
      });
    };
    const error = (status: number, code: string, message: string) =>
      xml(
        status,
        `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>req-${entry.n}</RequestId></ErrorResponse>`,
      );
    if (this.overLimit() !== undefined) return error(400, "Throttling", "Rate exceeded");
    const fault = this.faultFor(entry);
    if (fault?.kind === "status") {
      if (fault.status === 429 || fault.status === 400) return error(400, "Throttling", "Rate exceeded");
      return error(fault.status, "ServiceUnavailable", "Service unavailable");
    }
    if (fault?.kind === "network" || fault?.kind === "timeout") {
      if (fault.kind === "timeout") await new Promise((r) => setTimeout(r, fault.ms).unref());
      entry.status = 0;
      return HttpResponse.error();
    }
    let text: string;
    try {
      text = this.route(entry, body);
    } catch (e) {
      if (!(e instanceof R53Failure)) throw e;
      return error(e.status, e.code, e.message);
    }
    if (fault?.kind === "lost") {
      entry.status = 0;
      return HttpResponse.error();
    }
    return xml(200, text);
  }

  get handlers(): RequestHandler[] {
    return [http.all(`${this.baseUrl}/*`, ({ request }) => this.handle(request))];
  }
}

const z = (zone: R53Zone) => zone.name;
