import { DnsError } from "../errors.js";
import { HttpKit, failureText } from "./_kit.js";
import { fromPresentation, planRrsetWrites, rrsetRecords, toPresentation } from "./_rrset.js";
import { defineProvider, tokenFrom } from "./define.js";
import type { ApplyOptions, DnsProvider, ProviderConfig, ProviderDefinition } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionKinds, OptionsOf } from "@cutover/core/plan";

interface PdnsZone {
  id: string;
  name: string;
  kind: string;
  serial?: number;
}
interface PdnsRecord {
  content: string;
  disabled: boolean;
}
interface PdnsRrset {
  name: string;
  type: string;
  ttl: number;
  records: PdnsRecord[];
}

/** Zone kinds whose data the API may change; Slave/Consumer zones take their data from a primary. */
const WRITABLE = new Set(["native", "master", "primary", "producer"]);

const TOKENS = { tokens: ["PDNS_API_KEY"] } as const satisfies Pick<ProviderDefinition, "tokens">;
/** The plan's options for PowerDNS under `dns:`. */
const options = ({ z }: OptionKinds) => ({
  /** The server id in the API's paths (`/api/v1/servers/{serverId}`); "localhost" on every PowerDNS. */
  serverId: z.string().optional(),
});
export type PowerDnsOptions = OptionsOf<typeof options>;

/**
 * The PowerDNS Authoritative HTTP API (`/api/v1/servers/localhost`): zones and their RRsets in one read, a
 * zone's changes in one `PATCH` of `changetype: REPLACE` RRsets (atomic per zone: all or none), staying
 * members of a multi-value RRset kept, then a NOTIFY to the secondaries for Master zones. Key from
 * `PDNS_API_KEY` (lego's name), server from `dns.apiUrl` or `PDNS_API_URL`.
 */
export function createPowerDnsProvider(config: ProviderConfig<PowerDnsOptions>): DnsProvider {
  const key = tokenFrom(TOKENS, config.env)?.value;
  const url = config.apiUrl ?? config.env.PDNS_API_URL;
  if (!key || !url) {
    throw new DnsError(
      `${key ? "" : "no API key: set PDNS_API_KEY"}${!key && !url ? "; " : ""}${url ? "" : "no server: set dns.apiUrl or PDNS_API_URL (e.g. http://127.0.0.1:8081)"}`,
      {
        code: key ? "E_CONFIG" : "E_AUTH_MISSING",
        provider: "powerdns",
        hint: "the key is pdns.conf's api-key (with api=yes and webserver=yes); the URL is the webserver's address",
      },
    );
  }
  const serverId = String(config.options.serverId ?? "localhost");
  const root = url.replace(/\/+$/, "").replace(/\/api\/v1(\/servers\/[^/]+)?$/, "");
  const kit = new HttpKit({
    provider: "powerdns",
    baseUrl: `${root}/api/v1/servers/${encodeURIComponent(serverId)}`,
    headers: { "X-API-Key": key },
    secrets: [key],
    hints: {
      auth: "check PDNS_API_KEY: it must be the server's api-key (pdns.conf), and webserver-allow-from must allow this host",
      rateLimit: "the PowerDNS API (or a proxy in front of it) is limiting requests; wait and run again",
    },
    errorText: (b) =>
      b && typeof b === "object" && "error" in b ? String((b as { error: unknown }).error) : undefined,
    retries: Number(config.options.retries ?? 4),
    timeoutMs: Number(config.options.timeoutMs ?? 30_000),
    ...(config.sleep ? { sleep: config.sleep } : {}),
  });
  const zones = new Map<string, PdnsZone>();

  async function zoneFor(zone: string, signal?: AbortSignal): Promise<PdnsZone> {
    const name = normalizeName(zone);
    const cached = zones.get(name);
    if (cached) return cached;
    const res = await kit.request<PdnsZone[]>("GET", "/zones", {
      what: `looking up zone ${name}`,
      query: { zone: `${name}.` },
      signal,
    });
    const found = res.body.find((z) => normalizeName(z.name) === name);
    if (!found) {
      throw new DnsError(`zone ${name} is not on this server`, {
        code: "E_ZONE_UNKNOWN",
        provider: "powerdns",
        hint: "check dns.zones in the plan; `pdnsutil list-all-zones` on the server lists what it serves",
      });
    }
    zones.set(name, found);
    return found;
  }

  async function readZone(zone: string, signal?: AbortSignal): Promise<{ z: PdnsZone; rrsets: PdnsRrset[] }> {
    const z = await zoneFor(zone, signal);
    const res = await kit.request<PdnsZone & { rrsets: PdnsRrset[] }>("GET", `/zones/${encodeURIComponent(z.id)}`, {
      what: `reading the records of ${normalizeName(zone)}`,
      signal,
    });
    const fresh = { id: res.body.id, name: res.body.name, kind: res.body.kind };
    zones.set(normalizeName(zone), fresh);
    return { z: fresh, rrsets: res.body.rrsets ?? [] };
  }

  function toRecords(zone: string, rrsets: readonly PdnsRrset[]): DnsRecord[] {
    return rrsets.flatMap((s) => {
      const live = s.records.filter((r) => !r.disabled).map((r) => fromPresentation(s.type, r.content));
      return rrsetRecords(zone, s.name, s.type, s.ttl, live);
    });
  }

  return {
    name: "powerdns",
    capabilities: {
      minTtl: 1,
      maxTtl: 2 ** 31 - 1,
      batch: true,
      proxied: false,
      atomicSwap: false,
    },
    async listZones(): Promise<Zone[]> {
      const res = await kit.request<PdnsZone[]>("GET", "/zones", { what: "listing zones" });
      return res.body.map((z) => ({ id: z.id, name: normalizeName(z.name) }));
    },
    async listRecords(zone: string): Promise<DnsRecord[]> {
      const name = normalizeName(zone);
      return toRecords(name, (await readZone(name)).rrsets);
    },
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      let read: { z: PdnsZone; rrsets: PdnsRrset[] };
      try {
        read = await readZone(name, options.signal);
        if (!WRITABLE.has(read.z.kind.toLowerCase())) {
          throw new DnsError(`zone ${name} is a ${read.z.kind} zone: its data comes from a primary`, {
            code: "E_ZONE_KIND",
            provider: "powerdns",
            hint: "change the records on the primary server (or point the plan at it)",
          });
        }
      } catch (error) {
        return changes.map((change) => ({ status: "failed" as const, change, error: failureText(error) }));
      }
      const { writes, failed } = planRrsetWrites("powerdns", toRecords(name, read.rrsets), changes);
      const outcomes: ChangeOutcome[] = [...failed];
      if (writes.length === 0) return outcomes;
      const rrsets = writes.map((w) => {
        const fqdn = `${w.name}.`;
        // Disabled members are not cutover's: keep them as they are.
        const disabled =
          read.rrsets
            .find((s) => normalizeName(s.name) === w.name && s.type === w.type)
            ?.records.filter((r) => r.disabled) ?? [];
        return {
          name: fqdn,
          type: w.type,
          ttl: w.ttl,
          changetype: "REPLACE",
          records: [...w.contents.map((c) => ({ content: toPresentation(w.type, c), disabled: false })), ...disabled],
        };
      });
      const names = writes.map((w) => `${w.name} ${w.type}`);
      const what = `replacing ${writes.length} RRset(s) of ${name} in one PATCH (${names.slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""})`;
      try {
        await kit.request("PATCH", `/zones/${encodeURIComponent(read.z.id)}`, {
          what,
          body: { rrsets },
          signal: options.signal,
        });
      } catch (error) {
        const message = failureText(error);
        for (const w of writes)
          for (const change of w.changes) outcomes.push({ status: "failed", change, error: message });
        return outcomes;
      }
      for (const w of writes) for (const change of w.changes) outcomes.push({ status: "applied", change });
      // A Master zone tells its secondaries at once; they would also find the new serial at their next refresh.
      if (/^(master|primary)$/i.test(read.z.kind) && config.options.notify !== false) {
        await kit
          .request("PUT", `/zones/${encodeURIComponent(read.z.id)}/notify`, {
            what: `notifying the secondaries of ${name}`,
          })
          .catch(() => undefined);
      }
      return outcomes;
    },
  };
}

export const powerDnsProvider = /* @__PURE__ */ defineProvider({
  name: "powerdns",
  title: "PowerDNS authoritative server (HTTP API)",
  options,
  ...TOKENS,
  env: ["PDNS_API_URL"],
  credentials: "the server's api-key (pdns.conf), and its URL in dns.apiUrl or PDNS_API_URL",
  traits: {
    writes: "one PATCH of REPLACE RRsets per zone (HTTP API)",
    atomic: "zone",
    rrsets: true,
    minTtl: 1,
    edge: false,
  },
  template: `  provider: powerdns              # key from PDNS_API_KEY (pdns.conf api-key; api=yes, webserver=yes)
  apiUrl: http://192.0.2.53:8081    # the PowerDNS webserver (or PDNS_API_URL); allow this host in webserver-allow-from`,
  create: createPowerDnsProvider,
});
