import * as dnsPacket from "dns-packet";
import { DnsError, redact } from "../errors.js";
import { classifyAnswer, type AnswerStatus, type Expectation } from "./classify.js";
import { decodeResponse, type QueryResult } from "./query.js";

export interface AtlasOptions {
  /** The API key (from RIPE_ATLAS_KEY); sent as `Authorization: Key ...`, never printed. */
  key: string;
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
}

export interface AtlasDnsRequest {
  name: string;
  type: "A" | "AAAA";
  probes: number;
  /** ISO country codes; without them, probes come from the whole world (area WW). */
  countries?: readonly string[];
  description?: string;
}

/** One DNS result as the API returns it (fields we read; the API sends more). */
export interface AtlasDnsResult {
  prb_id: number;
  msm_id: number;
  timestamp: number;
  from?: string;
  type: "dns";
  resultset?: Array<{
    time: number;
    af?: number;
    dst_addr?: string;
    result?: { abuf?: string; rt?: number; ANCOUNT?: number };
    error?: Record<string, unknown>;
  }>;
  result?: { abuf?: string; rt?: number };
  error?: Record<string, unknown>;
}

export interface AtlasProbeAnswer {
  probe: number;
  country: string;
  resolver: string;
  status: AnswerStatus;
  addresses: string[];
  ttl?: number;
  at: number;
  error?: string;
}

export interface AtlasCountrySummary {
  country: string;
  probes: number;
  newCount: number;
  old: number;
  other: number;
}

export interface AtlasClient {
  createDnsMeasurement(request: AtlasDnsRequest): Promise<number>;
  /** "Specified", "Scheduled", "Ongoing", "Stopped", ... */
  status(id: number): Promise<string>;
  results(id: number): Promise<AtlasDnsResult[]>;
  probeCountries(ids: readonly number[]): Promise<Map<number, string>>;
}

/** A small client for the RIPE Atlas v2 REST API: one-off DNS measurements through each probe's own resolver. */
export function createAtlasClient(options: AtlasOptions): AtlasClient {
  const base = (options.baseUrl ?? "https://atlas.ripe.net").replace(/\/$/, "");
  const f = options.fetch ?? ((u: string | URL | Request, i?: RequestInit) => globalThis.fetch(u, i));
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await f(`${base}${path}`, {
        method,
        headers: {
          authorization: `Key ${options.key}`,
          "content-type": "application/json",
          accept: "application/json",
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new DnsError(redact(`cannot reach the RIPE Atlas API: ${(cause as Error).message}`, [options.key]), {
        code: "E_ATLAS",
        provider: "ripe-atlas",
      });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (
        json as { error?: { detail?: string; title?: string; errors?: Array<{ detail?: string }> } } | undefined
      )?.error;
      const detail = [err?.title, err?.detail, ...(err?.errors ?? []).map((e) => e.detail)].filter(Boolean).join(": ");
      throw new DnsError(redact(`${res.status} ${detail || res.statusText}`, [options.key]), {
        code: res.status === 401 || res.status === 403 ? "E_ATLAS_AUTH" : "E_ATLAS",
        provider: "ripe-atlas",
        status: res.status,
        ...(res.status === 401 || res.status === 403
          ? { hint: "check RIPE_ATLAS_KEY: it needs the permission to create measurements" }
          : {}),
      });
    }
    return json;
  };
  return {
    async createDnsMeasurement(req) {
      const countries = req.countries ?? [];
      const per = countries.length ? Math.max(1, Math.ceil(req.probes / countries.length)) : req.probes;
      const body = {
        definitions: [
          {
            type: "dns",
            af: 4,
            description: req.description ?? `cutover propagation ${req.name} ${req.type}`,
            query_class: "IN",
            query_type: req.type,
            query_argument: req.name,
            use_probe_resolver: true,
            set_rd_bit: true,
            udp_payload_size: 1232,
            retry: 1,
          },
        ],
        probes: countries.length
          ? countries.map((c) => ({ type: "country", value: c.toUpperCase(), requested: per }))
          : [{ type: "area", value: "WW", requested: req.probes }],
        is_oneoff: true,
      };
      const out = (await call("POST", "/api/v2/measurements/", body)) as { measurements?: number[] };
      const id = out?.measurements?.[0];
      if (typeof id !== "number")
        throw new DnsError("RIPE Atlas did not return a measurement id", { code: "E_ATLAS", provider: "ripe-atlas" });
      return id;
    },
    async status(id) {
      const m = (await call("GET", `/api/v2/measurements/${id}/`)) as { status?: { name?: string } };
      return m?.status?.name ?? "unknown";
    },
    async results(id) {
      const r = await call("GET", `/api/v2/measurements/${id}/results/?format=json`);
      return Array.isArray(r) ? (r as AtlasDnsResult[]) : [];
    },
    async probeCountries(ids) {
      const out = new Map<number, string>();
      for (let i = 0; i < ids.length; i += 100) {
        let path: string | undefined =
          `/api/v2/probes/?id__in=${ids.slice(i, i + 100).join(",")}&fields=id,country_code&page_size=100`;
        while (path) {
          const page = (await call("GET", path)) as {
            next?: string | null;
            results?: Array<{ id: number; country_code?: string }>;
          };
          for (const p of page?.results ?? []) out.set(p.id, p.country_code ?? "??");
          path = page?.next ? page.next.replace(base, "") : undefined;
        }
      }
      return out;
    },
  };
}

/** Decodes each probe's `abuf` (base64 DNS wire format) and classifies it like any other answer. */
export function classifyAtlasResults(
  results: readonly AtlasDnsResult[],
  expectation: Expectation,
  name: string,
  type: string,
  countries: ReadonlyMap<number, string> = new Map(),
): AtlasProbeAnswer[] {
  const out: AtlasProbeAnswer[] = [];
  for (const r of results) {
    type Entry = NonNullable<AtlasDnsResult["resultset"]>[number];
    const single: Entry = { time: r.timestamp };
    if (r.result) single.result = r.result;
    if (r.error) single.error = r.error;
    const sets: Entry[] = r.resultset ?? [single];
    for (const s of sets) {
      const at = (s.time ?? r.timestamp) * 1000;
      const base = {
        probe: r.prb_id,
        country: countries.get(r.prb_id) ?? "??",
        resolver: s.dst_addr ?? "probe resolver",
        at,
      };
      let q: QueryResult = {
        server: base.resolver,
        name,
        type,
        transport: "udp",
        elapsedMs: s.result?.rt ?? 0,
        attempts: 1,
        truncatedRetry: false,
      };
      if (!s.result?.abuf)
        q = { ...q, error: { kind: "timeout", message: s.error ? JSON.stringify(s.error) : "no answer" } };
      else {
        try {
          q = { ...q, response: decodeResponse(Buffer.from(s.result.abuf, "base64"), undefined, name, type) };
        } catch (e) {
          q = { ...q, error: { kind: "malformed", message: (e as Error).message } };
        }
      }
      const o = classifyAnswer(q, expectation, at);
      const a: AtlasProbeAnswer = { ...base, status: o.status, addresses: o.addresses };
      if (o.ttl !== undefined) a.ttl = o.ttl;
      if (o.error) a.error = o.error;
      out.push(a);
    }
  }
  return out;
}

/** Per-country counts: NEW, OLD (OLD and MIXED), other (NEGATIVE, ERROR, UNEXPECTED). */
export function summarizeAtlas(answers: readonly AtlasProbeAnswer[]): AtlasCountrySummary[] {
  const by = new Map<string, AtlasCountrySummary>();
  for (const a of answers) {
    const s = by.get(a.country) ?? { country: a.country, probes: 0, newCount: 0, old: 0, other: 0 };
    s.probes++;
    if (a.status === "NEW") s.newCount++;
    else if (a.status === "OLD" || a.status === "MIXED") s.old++;
    else s.other++;
    by.set(a.country, s);
  }
  return [...by.values()].sort((x, y) => y.probes - x.probes || x.country.localeCompare(y.country));
}

/** Encodes a response as a probe would report it (for fakes and fixtures): base64 of the wire format. */
export function encodeAbuf(packet: dnsPacket.Packet): string {
  return dnsPacket.encode(packet).toString("base64");
}
