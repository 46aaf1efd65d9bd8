import { DnsError } from "../errors.js";
import { mapLimit } from "../_pool.js";
import { HttpKit, failureText } from "./_kit.js";
import { fromPresentation, planRrsetWrites, rrsetRecords, sameContent, toPresentation } from "./_rrset.js";
import { defineProvider, tokenFrom } from "./define.js";
import type { ApplyOptions, DnsProvider, ProviderConfig, ProviderDefinition } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionsOf } from "@cutover/core/plan";

export const HETZNER_API_URL = "https://api.hetzner.cloud/v1";
// The Cloud API pages at most 50 entries by default on its list endpoints.
const PER_PAGE = 50;

interface HZone {
  id: number;
  name: string;
  mode: "primary" | "secondary";
  ttl: number;
}
interface HRrset {
  id: string;
  name: string;
  type: string;
  ttl: number | null;
  records: Array<{ value: string; comment?: string }>;
  protection?: { change?: boolean };
}
interface HAction {
  id: number;
  command: string;
  status: "running" | "success" | "error";
  error: { code: string; message: string } | null;
}
interface HPage {
  meta?: { pagination?: { next_page?: number | null } };
}

const TOKENS = { tokens: ["HCLOUD_TOKEN", "HETZNER_TOKEN"] } as const satisfies Pick<ProviderDefinition, "tokens">;
/** Tokens of the old DNS Console API: read only to say they no longer work. */
const LEGACY_TOKENS = { tokens: ["HETZNER_DNS_TOKEN", "HETZNER_DNS_API_TOKEN"] } as const;
/** Hetzner takes no options of its own under `dns:`. */
const options = () => ({});
export type HetznerOptions = OptionsOf<typeof options>;

/**
 * Hetzner DNS through the Hetzner Cloud API (`api.hetzner.cloud/v1`, where DNS moved from the old
 * dns.hetzner.com API, which no longer answers for migrated zones): zones and RRsets page by page, one
 * `set_records` action per changed RRset (staying members kept) and one `change_ttl` where the TTL changes,
 * all actions started first, then followed together (50 per list call) until they succeed. There is no bulk
 * endpoint for RRsets (a zone-file import would replace the whole zone), so a swap is one call per RRset,
 * 8 in flight, under 3,600 requests per hour.
 */
export function createHetznerProvider(config: ProviderConfig<HetznerOptions>): DnsProvider {
  const token = tokenFrom(TOKENS, config.env)?.value;
  if (!token) {
    const legacy = tokenFrom(LEGACY_TOKENS, config.env);
    throw new DnsError(
      legacy
        ? "HETZNER_DNS_TOKEN is a token for the old DNS Console API, which Hetzner has shut down: set HCLOUD_TOKEN"
        : "no API token: set HCLOUD_TOKEN (the hcloud CLI's name) or HETZNER_TOKEN",
      {
        code: "E_AUTH_MISSING",
        provider: "hetzner",
        hint: "migrate the zone to the Hetzner Console if not done yet, then create a Read & Write token in console.hetzner.com → your project → Security → API tokens",
      },
    );
  }
  const kit = new HttpKit({
    provider: "hetzner",
    baseUrl: config.apiUrl ?? config.env.HCLOUD_ENDPOINT ?? HETZNER_API_URL,
    headers: { authorization: `Bearer ${token}` },
    secrets: [token],
    hints: {
      auth: "check HCLOUD_TOKEN: it must be a Read & Write token of the project that holds the zone",
      rateLimit: "Hetzner's limit (3,600 requests per hour per project) was hit; wait and run again",
    },
    errorText: (b) => {
      const e = (b as { error?: { code?: string; message?: string } } | undefined)?.error;
      return e ? `${e.message ?? ""}${e.code ? ` (${e.code})` : ""}` : undefined;
    },
    rate: {
      requests: Number(config.options.rateLimit ?? 3600),
      windowMs: Number(config.options.rateWindowMs ?? 3_600_000),
    },
    retries: Number(config.options.retries ?? 4),
    timeoutMs: Number(config.options.timeoutMs ?? 30_000),
    ...(config.sleep ? { sleep: config.sleep } : {}),
  });
  const sleep = config.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const concurrency = Math.max(1, Number(config.options.concurrency ?? 8));
  const zones = new Map<string, HZone>();

  async function pages<T>(path: string, key: string, what: string, query: Record<string, string> = {}): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const res = await kit.request<HPage & Record<string, T[]>>("GET", path, {
        what,
        query: { ...query, page, per_page: PER_PAGE },
      });
      out.push(...(res.body[key] ?? []));
      if (!res.body.meta?.pagination?.next_page) break;
    }
    return out;
  }

  async function zoneFor(zone: string): Promise<HZone> {
    const name = normalizeName(zone);
    const cached = zones.get(name);
    if (cached) return cached;
    const found = (await pages<HZone>("/zones", "zones", `looking up zone ${name}`, { name })).find(
      (z) => normalizeName(z.name) === name,
    );
    if (!found) {
      throw new DnsError(`zone ${name} not found in this project`, {
        code: "E_ZONE_UNKNOWN",
        provider: "hetzner",
        hint: "check dns.zones in the plan, that the token belongs to the project holding the zone, and that the zone was migrated to the Hetzner Console",
      });
    }
    zones.set(name, found);
    return found;
  }

  const relName = (name: string, zone: string) => (name === zone ? "@" : name.slice(0, -(zone.length + 1)));
  const absName = (rel: string, zone: string) => (rel === "@" ? zone : `${normalizeName(rel)}.${zone}`);

  async function readSets(zone: string): Promise<{ z: HZone; sets: HRrset[] }> {
    const z = await zoneFor(zone);
    const sets = await pages<HRrset>(`/zones/${z.id}/rrsets`, "rrsets", `reading the records of ${zone}`);
    return { z, sets };
  }

  function toRecords(zone: string, z: HZone, sets: readonly HRrset[]): DnsRecord[] {
    return sets.flatMap((s) =>
      rrsetRecords(
        zone,
        absName(s.name, zone),
        s.type,
        s.ttl ?? z.ttl,
        s.records.map((r) => fromPresentation(s.type, r.value)),
        s.ttl === null ? { ttlDefault: true } : undefined,
      ),
    );
  }

  /**
   * Follows started actions until each is done, 50 at a time in one list call per round (following each
   * on its own would spend most of the hourly budget of 3,600 requests on a large swap). Returns the error
   * of each action that failed or never finished, by action id.
   */
  async function followAll(started: readonly HAction[], signal?: AbortSignal): Promise<Map<number, string>> {
    const errors = new Map<number, string>();
    let running = started.filter((a) => a.status === "running").map((a) => a.id);
    for (const a of started)
      if (a.status === "error") errors.set(a.id, `${a.error?.message ?? "failed"} (${a.error?.code ?? a.command})`);
    for (let i = 0; running.length > 0; i++) {
      if (i > 60) {
        for (const id of running) errors.set(id, `action ${id} still running after ${i} looks`);
        break;
      }
      await sleep(Math.min(2000, 100 * 2 ** i), signal);
      const next: number[] = [];
      for (let k = 0; k < running.length; k += 50) {
        const ids = running.slice(k, k + 50);
        const res = await kit.request<{ actions: HAction[] }>(
          "GET",
          `/zones/actions?${ids.map((id) => `id=${id}`).join("&")}`,
          {
            what: `following ${ids.length} action(s)`,
            query: { per_page: 50 },
            signal,
          },
        );
        for (const a of res.body.actions ?? []) {
          if (a.status === "running") next.push(a.id);
          else if (a.status === "error")
            errors.set(a.id, `${a.error?.message ?? "failed"} (${a.error?.code ?? a.command})`);
        }
      }
      running = next;
    }
    return errors;
  }

  async function act(
    zoneId: number,
    rel: string,
    type: string,
    verb: string,
    body: unknown,
    what: string,
    signal?: AbortSignal,
  ) {
    const path = `/zones/${zoneId}/rrsets/${encodeURIComponent(rel)}/${type}/actions/${verb}`;
    return (await kit.request<{ action: HAction }>("POST", path, { what, body, signal })).body.action;
  }

  return {
    name: "hetzner",
    capabilities: { minTtl: 60, maxTtl: 2 ** 31 - 1, batch: false, proxied: false, atomicSwap: false },
    async listZones(): Promise<Zone[]> {
      const all = await pages<HZone>("/zones", "zones", "listing zones");
      return all.map((z) => ({ id: String(z.id), name: normalizeName(z.name) }));
    },
    async listRecords(zone: string): Promise<DnsRecord[]> {
      const name = normalizeName(zone);
      const { z, sets } = await readSets(name);
      return toRecords(name, z, sets);
    },
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      let read: { z: HZone; sets: HRrset[] };
      try {
        read = await readSets(name);
        if (read.z.mode !== "primary") {
          throw new DnsError(`zone ${name} is a secondary zone: its data comes from its primary servers`, {
            code: "E_ZONE_KIND",
            provider: "hetzner",
            hint: "change the records on the primary (or point the plan at it)",
          });
        }
      } catch (error) {
        return changes.map((change) => ({ status: "failed" as const, change, error: failureText(error) }));
      }
      const current = toRecords(name, read.z, read.sets);
      const { writes, failed } = planRrsetWrites("hetzner", current, changes);
      const outcomes: ChangeOutcome[] = [...failed];
      // Every action is started first (8 at a time), then all are followed together: the records change
      // within the time the POSTs take, not one action's round trip after another.
      const started = await mapLimit(writes, concurrency, async (w) => {
        const rel = relName(w.name, name);
        const set = read.sets.find((s) => s.name === rel && s.type === w.type);
        const label = `${w.name} ${w.type} in ${name}`;
        const actions: HAction[] = [];
        try {
          const same =
            w.contents.length === w.before.length &&
            w.contents.every((c) => w.before.some((b) => sameContent(w.type, b.content, c)));
          if (!same) {
            // Comments of staying members stay; a replaced member's comment goes with it.
            const comment = (c: string) =>
              set?.records.find((r) => sameContent(w.type, fromPresentation(w.type, r.value), c))?.comment;
            const records = w.contents.map((c) => {
              const note = comment(c);
              return { value: toPresentation(w.type, c), ...(note ? { comment: note } : {}) };
            });
            actions.push(
              await act(
                read.z.id,
                rel,
                w.type,
                "set_records",
                { records },
                `setting the records of ${label}`,
                options.signal,
              ),
            );
          }
          // The zone's default comes back as null when a change restores the TTL it started from.
          const restoresDefault = w.changes.every(
            (c) => c.record.meta?.ttlDefault === true && c.after.ttl === c.record.ttl,
          );
          const ttl = restoresDefault ? null : w.ttl;
          if (ttl !== set?.ttl) {
            actions.push(
              await act(read.z.id, rel, w.type, "change_ttl", { ttl }, `changing the TTL of ${label}`, options.signal),
            );
          }
          return { w, actions, error: undefined };
        } catch (error) {
          return { w, actions, error: failureText(error) };
        }
      });
      const failedActions = await followAll(
        started.flatMap((s) => s.actions),
        options.signal,
      ).catch((error: unknown) => {
        const message = failureText(error);
        return new Map(started.flatMap((s) => s.actions.map((a) => [a.id, message] as const)));
      });
      const results = started.map(({ w, actions, error }): ChangeOutcome[] => {
        const why =
          error ??
          actions
            .map((a) => failedActions.get(a.id))
            .filter(Boolean)
            .map((m) => `[hetzner] action failed while changing ${w.name} ${w.type}: ${m}`)[0];
        return w.changes.map((change) =>
          why ? { status: "failed" as const, change, error: why } : { status: "applied" as const, change },
        );
      });
      outcomes.push(...results.flat());
      return outcomes;
    },
  };
}

export const hetznerProvider = /* @__PURE__ */ defineProvider({
  name: "hetzner",
  title: "Hetzner DNS (Hetzner Cloud API)",
  options,
  ...TOKENS,
  env: ["HCLOUD_ENDPOINT", ...LEGACY_TOKENS.tokens],
  credentials: "a Read & Write API token of the project that holds the zone",
  traits: {
    writes: "one set_records action per RRset (Hetzner Cloud API), 8 in flight",
    atomic: "rrset",
    rrsets: true,
    minTtl: 60,
    edge: false,
  },
  template: `  provider: hetzner               # token from HCLOUD_TOKEN: a Read & Write token of the project holding the zone
  # (Hetzner DNS through the Cloud API; tokens of the old DNS Console do not work there)`,
  create: createHetznerProvider,
});
