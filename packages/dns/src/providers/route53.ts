import type { ResourceRecordSet, Route53Client } from "@aws-sdk/client-route-53";
import { DnsError } from "../errors.js";
import { mapLimit } from "../_pool.js";
import { RateBudget, realSleep, type Sleep } from "./_http.js";
import { failureText, providerError, withRetries, type Failure } from "./_kit.js";
import { fromPresentation, planRrsetWrites, rrsetRecords, toPresentation, type RrsetWrite } from "./_rrset.js";
import { defineProvider } from "./define.js";
import type { ApplyOptions, DnsProvider, ProviderConfig, ProviderDefinition } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionKinds, OptionsOf } from "@cutover/core/plan";

/** Route 53's documented limits per ChangeResourceRecordSets request. */
export const ROUTE53_MAX_RECORDS_PER_REQUEST = 1000;
export const ROUTE53_MAX_VALUE_CHARS_PER_REQUEST = 32_000;

type Sdk = typeof import("@aws-sdk/client-route-53");

/** Route 53 escapes some characters in names as \ooo (octal): `\052` is `*`. */
const unescapeName = (name: string) =>
  normalizeName(name.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));

const ROUTING = ["SetIdentifier", "Weight", "Region", "GeoLocation", "Failover", "MultiValueAnswer"] as const;

/** Explicit keys, when not from a profile, SSO or a role (the SDK's chain reads the rest itself). */
const TOKENS = {
  tokens: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"],
} as const satisfies Pick<ProviderDefinition, "tokens">;
/** The plan's options for Route 53 under `dns:`. */
const options = ({ z, ...k }: OptionKinds) => ({
  /** Zone name → hosted zone id, when an account has several zones of one name (public and private). */
  hostedZoneIds: z
    .record(k.hostname, z.string().regex(/^[A-Z0-9]+$/, { error: "a hosted zone id such as Z0123456789ABC" }))
    .optional(),
});
export type Route53Options = OptionsOf<typeof options>;

/**
 * Amazon Route 53 through the official SDK, loaded only when this provider is used (it takes long to import).
 * Credentials come from the SDK's standard chain (AWS_PROFILE, AWS_ACCESS_KEY_ID..., SSO, instance roles).
 * A zone's changes go in one ChangeResourceRecordSets request per up to 1,000 values / 32,000 characters,
 * each RRset as a DELETE of exactly what was read plus a CREATE of the new set: the request is atomic and a
 * compare-and-swap (if someone changed an RRset since it was read, Route 53 applies nothing). Then GetChange
 * until INSYNC, Route 53's own word that all its servers answer the new data. Stays under 5 requests/s.
 * Alias records and records with a routing policy (weighted, latency, geo, failover, multivalue) are listed
 * but never changed: a change to one is refused with what to do.
 */
export function createRoute53Provider(config: ProviderConfig<Route53Options>): DnsProvider {
  const env = config.env;
  const endpoint = config.apiUrl ?? env.AWS_ENDPOINT_URL_ROUTE_53 ?? env.AWS_ENDPOINT_URL;
  const sleep: Sleep = config.sleep ?? realSleep;
  // 5 requests per second per account, counted by Route 53 when a request arrives: a window of 1.2 s keeps a
  // margin for requests that take longer on the way.
  const budget = new RateBudget(
    Number(config.options.rateLimit ?? 5),
    Number(config.options.rateWindowMs ?? 1200),
    sleep,
  );
  const retries = Math.max(0, Number(config.options.retries ?? 4));
  const insyncTimeoutMs = Number(config.options.insyncTimeoutMs ?? 300_000);
  const secrets = [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN];
  const zoneIds = new Map<string, string>();
  let sdk: Promise<{ sdk: Sdk; client: Route53Client }> | undefined;

  const load = () =>
    (sdk ??= import("@aws-sdk/client-route-53").then((m) => {
      // The SDK warns on stderr at its first client on Node < 22 (which cutover supports): a user's output
      // stays clean unless they asked for the warning.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
      const explicit =
        env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
          ? {
              credentials: {
                accessKeyId: env.AWS_ACCESS_KEY_ID,
                secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
                ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
              },
            }
          : {};
      const client = new m.Route53Client({
        region: "us-east-1",
        ...(endpoint ? { endpoint } : {}),
        ...explicit,
        ...(env.AWS_PROFILE && !explicit.credentials ? { profile: env.AWS_PROFILE } : {}),
        // One retry loop (below) that honours the 5 requests/s limit and reports each attempt.
        maxAttempts: 1,
      });
      // Take from the budget when the request is signed and about to go, not before the SDK builds it: a
      // 1,000-change body takes a while to serialize, and Route 53 counts requests when they arrive (taken
      // earlier, a request throttled now and then in bench/dns).
      client.middlewareStack.add(
        (next) => async (args) => {
          await budget.take();
          return next(args);
        },
        { step: "finalizeRequest", priority: "low", name: "cutoverRateBudget" },
      );
      return { sdk: m, client };
    }));

  const hints = {
    label: "Route 53",
    auth: "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for an IAM identity allowed route53:ListHostedZonesByName, route53:ListResourceRecordSets, route53:ChangeResourceRecordSets and route53:GetChange on this hosted zone",
    rateLimit:
      "Route 53's limit (5 requests per second per account) was hit, perhaps by other tools of the account; run again",
  };

  /** An SDK exception as the kit's Failure: Route 53 throttles with 400 Throttling, and says so by name. */
  const describe = (error: unknown): Failure | undefined => {
    if (error instanceof DnsError) return undefined;
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    return {
      status,
      reason: `${e.name ?? "Error"}: ${e.message ?? String(error)}`,
      auth: e.name === "CredentialsProviderError" || /credential/i.test(e.name ?? ""),
      throttled: e.name === "Throttling" || e.name === "PriorRequestNotComplete",
    };
  };
  const fail = (error: unknown, what: string): DnsError => {
    const f = describe(error);
    return f ? providerError("route53", f, what, { hints, secrets, where: endpoint }) : (error as DnsError);
  };

  /** One API call under the budget and the kit's retry policy (throttling, 5xx and network errors). */
  async function call<T>(what: string, fn: (c: Route53Client, m: Sdk) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const { client, sdk: m } = await load();
    return withRetries(() => fn(client, m), {
      retries,
      sleep,
      signal,
      describe,
      fail: (f) => providerError("route53", f, what, { hints, secrets, where: endpoint }),
    });
  }

  async function zoneId(zone: string): Promise<string> {
    const name = normalizeName(zone);
    const cached = zoneIds.get(name);
    if (cached) return cached;
    const fixed = config.options.hostedZoneIds?.[name];
    if (fixed) {
      zoneIds.set(name, fixed);
      return fixed;
    }
    const res = await call(`looking up hosted zone ${name}`, (c, m) =>
      c.send(new m.ListHostedZonesByNameCommand({ DNSName: name, MaxItems: 10 })),
    );
    // A public zone; a private one of the same name is only answered inside its VPCs.
    const found = (res.HostedZones ?? []).filter((z) => normalizeName(z.Name ?? "") === name);
    const pick = found.find((z) => !z.Config?.PrivateZone) ?? (found.length === 1 ? found[0] : undefined);
    if (!pick?.Id) {
      throw new DnsError(`hosted zone ${name} not found in this account`, {
        code: "E_ZONE_UNKNOWN",
        provider: "route53",
        hint: "check dns.zones in the plan and the AWS account of the credentials (aws route53 list-hosted-zones)",
      });
    }
    const id = pick.Id.replace(/^\/hostedzone\//, "");
    zoneIds.set(name, id);
    return id;
  }

  async function readSets(zone: string, signal?: AbortSignal): Promise<ResourceRecordSet[]> {
    const id = await zoneId(zone);
    const out: ResourceRecordSet[] = [];
    let next: { StartRecordName?: string; StartRecordType?: string; StartRecordIdentifier?: string } = {};
    for (;;) {
      const res = await call(
        `reading the records of ${zone}`,
        (c, m) =>
          c.send(
            new m.ListResourceRecordSetsCommand({
              HostedZoneId: id,
              MaxItems: 300,
              ...(next as { StartRecordName?: string; StartRecordType?: undefined }),
            }),
          ),
        signal,
      );
      out.push(...(res.ResourceRecordSets ?? []));
      if (!res.IsTruncated) break;
      next = {
        ...(res.NextRecordName ? { StartRecordName: res.NextRecordName } : {}),
        ...(res.NextRecordType ? { StartRecordType: res.NextRecordType } : {}),
        ...(res.NextRecordIdentifier ? { StartRecordIdentifier: res.NextRecordIdentifier } : {}),
      };
    }
    return out;
  }

  const special = (s: ResourceRecordSet) =>
    s.AliasTarget ? "alias" : ROUTING.some((k) => s[k] !== undefined) ? "routing policy" : undefined;

  function toRecords(zone: string, sets: readonly ResourceRecordSet[]): DnsRecord[] {
    return sets.flatMap((s) => {
      const name = unescapeName(s.Name ?? "");
      const type = String(s.Type);
      if (s.AliasTarget) {
        // Kept as information: an alias has no address of its own to move.
        return [
          {
            id: `${name}/${type}/alias/${s.SetIdentifier ?? ""}`,
            zone,
            name,
            type,
            content: `ALIAS ${normalizeName(s.AliasTarget.DNSName ?? "")}`,
            ttl: 0,
            meta: { alias: true },
          },
        ];
      }
      const contents = (s.ResourceRecords ?? []).map((r) => fromPresentation(type, r.Value ?? ""));
      const records = rrsetRecords(
        zone,
        name,
        type,
        s.TTL ?? 0,
        contents,
        special(s) ? { routing: s.SetIdentifier ?? true } : undefined,
      );
      return s.SetIdentifier ? records.map((r) => ({ ...r, id: `${r.id}/${s.SetIdentifier}` })) : records;
    });
  }

  /** Splits RRset writes into requests within Route 53's per-request limits (DELETE + CREATE count both). */
  function chunks(writes: readonly RrsetWrite[]): RrsetWrite[][] {
    const out: RrsetWrite[][] = [];
    let cur: RrsetWrite[] = [];
    let values = 0;
    let chars = 0;
    for (const w of writes) {
      const v = w.before.length + w.contents.length;
      const c =
        w.before.reduce((n, r) => n + toPresentation(w.type, r.content).length, 0) +
        w.contents.reduce((n, x) => n + toPresentation(w.type, x).length, 0);
      if (
        cur.length > 0 &&
        (values + v > ROUTE53_MAX_RECORDS_PER_REQUEST || chars + c > ROUTE53_MAX_VALUE_CHARS_PER_REQUEST)
      ) {
        out.push(cur);
        cur = [];
        values = 0;
        chars = 0;
      }
      cur.push(w);
      values += v;
      chars += c;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  async function waitInsync(changeId: string, what: string, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    for (let i = 0; ; i++) {
      const res = await call(what, (c, m) => c.send(new m.GetChangeCommand({ Id: changeId })), signal);
      if (res.ChangeInfo?.Status === "INSYNC") return;
      if (Date.now() - started > insyncTimeoutMs) {
        throw new DnsError(
          `change ${changeId} still PENDING after ${Math.round(insyncTimeoutMs / 1000)} s while ${what}`,
          {
            code: "E_PENDING",
            provider: "route53",
            hint: "Route 53 accepted the change but not all its servers answer it yet; run again to check",
          },
        );
      }
      await sleep(Math.min(5000, 500 * 2 ** i), signal);
    }
  }

  /** Every RRset of a batch is now exactly as the batch writes it. */
  async function landed(batch: readonly RrsetWrite[], signal?: AbortSignal): Promise<boolean> {
    const now = await readSets(batch[0]!.changes[0]!.zone, signal).catch(() => undefined);
    if (!now) return false;
    return batch.every((w) => {
      const s = now.find((x) => unescapeName(x.Name ?? "") === w.name && x.Type === w.type && !x.SetIdentifier);
      const values = (s?.ResourceRecords ?? []).map((r) => r.Value ?? "");
      const want = w.contents.map((c) => toPresentation(w.type, c));
      return s?.TTL === w.ttl && values.length === want.length && want.every((v) => values.includes(v));
    });
  }

  return {
    name: "route53",
    capabilities: {
      minTtl: 0,
      maxTtl: 2147483647,
      batch: true,
      maxBatch: ROUTE53_MAX_RECORDS_PER_REQUEST / 2,
      proxied: false,
      atomicSwap: true,
    },
    async listZones(): Promise<Zone[]> {
      const out: Zone[] = [];
      let marker: string | undefined;
      do {
        const res = await call("listing hosted zones", (c, m) =>
          c.send(new m.ListHostedZonesCommand({ MaxItems: 100, ...(marker ? { Marker: marker } : {}) })),
        );
        for (const z of res.HostedZones ?? [])
          out.push({ id: (z.Id ?? "").replace(/^\/hostedzone\//, ""), name: normalizeName(z.Name ?? "") });
        marker = res.IsTruncated ? res.NextMarker : undefined;
      } while (marker);
      return out;
    },
    async listRecords(zone: string): Promise<DnsRecord[]> {
      const name = normalizeName(zone);
      return toRecords(name, await readSets(name));
    },
    async applyChanges(zone: string, changes: readonly RecordChange[], options: ApplyOptions = {}) {
      const name = normalizeName(zone);
      let sets: ResourceRecordSet[];
      let id: string;
      try {
        id = await zoneId(name);
        sets = await readSets(name, options.signal);
      } catch (error) {
        return changes.map((change) => ({
          status: "failed" as const,
          change,
          error: failureText(fail(error, `reading ${name}`)),
        }));
      }
      const outcomes: ChangeOutcome[] = [];
      const setOf = (n: string, t: string) => sets.filter((s) => unescapeName(s.Name ?? "") === n && s.Type === t);
      const simple: RecordChange[] = [];
      for (const c of changes) {
        const kinds = setOf(c.name, c.type).map(special).filter(Boolean);
        if (kinds.length > 0) {
          outcomes.push({
            status: "failed",
            change: c,
            error: `[route53] ${c.name} ${c.type} is an ${kinds[0]} record: cutover changes simple records only; change it in the Route 53 console (or make it a simple record first)`,
          });
        } else simple.push(c);
      }
      const { writes, failed } = planRrsetWrites("route53", toRecords(name, sets), simple);
      outcomes.push(...failed);
      const batches = chunks(writes);
      let stopped = false;
      // Requests go out together (each atomic), so a swap split by the limits still lands within about one call.
      const results = await mapLimit(batches, 5, async (batch): Promise<ChangeOutcome[]> => {
        const all = batch.flatMap((w) => w.changes);
        if (stopped) return all.map((change) => ({ status: "pending" as const, change }));
        const names = batch.map((w) => `${w.name} ${w.type}`);
        const what = `changing ${batch.length} RRset(s) of ${name} in one request (${names.slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""})`;
        try {
          const res = await call(
            what,
            (c, m) =>
              c.send(
                new m.ChangeResourceRecordSetsCommand({
                  HostedZoneId: id,
                  ChangeBatch: {
                    Comment: `cutover: ${names.length} RRset(s)`,
                    Changes: batch.flatMap((w) => {
                      const old = setOf(w.name, w.type)[0]!;
                      return [
                        { Action: "DELETE" as const, ResourceRecordSet: old },
                        {
                          Action: "CREATE" as const,
                          ResourceRecordSet: {
                            Name: old.Name,
                            Type: old.Type,
                            TTL: w.ttl,
                            ResourceRecords: w.contents.map((x) => ({ Value: toPresentation(w.type, x) })),
                          },
                        },
                      ];
                    }),
                  },
                }),
                options.signal ? { abortSignal: options.signal } : {},
              ),
            options.signal,
          );
          if (res.ChangeInfo?.Id)
            await waitInsync(res.ChangeInfo.Id, `waiting for ${what} to be INSYNC`, options.signal);
          return all.map((change) => ({ status: "applied" as const, change }));
        } catch (error) {
          // A request that landed but whose answer was lost is refused when retried (its DELETEs no longer
          // match): if every RRset of the batch is now exactly as written, the batch is applied.
          if (
            /\bInvalidChangeBatch\b/.test(String((error as Error).message)) &&
            (await landed(batch, options.signal))
          ) {
            return all.map((change) => ({ status: "applied" as const, change }));
          }
          stopped = true;
          const message = failureText(fail(error, what));
          return all.map((change) => ({ status: "failed" as const, change, error: message }));
        }
      });
      outcomes.push(...results.flat());
      return outcomes;
    },
    async close() {
      if (sdk) (await sdk).client.destroy();
    },
  };
}

export const route53Provider = /* @__PURE__ */ defineProvider({
  name: "route53",
  title: "Amazon Route 53 (AWS SDK)",
  options,
  ...TOKENS,
  env: ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ROUTE_53"],
  credentials: "the AWS SDK's credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID..., SSO, a role)",
  traits: {
    writes: "one ChangeResourceRecordSets per zone (per 1,000 values), DELETE + CREATE per RRset",
    atomic: "compare-and-swap",
    rrsets: true,
    minTtl: 0,
    propagationSignal: "GetChange until INSYNC",
    edge: false,
  },
  template: `  provider: route53               # AWS credentials from the SDK's chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, role)
  # least privilege: route53:ListHostedZonesByName, ListResourceRecordSets, ChangeResourceRecordSets
  # on arn:aws:route53:::hostedzone/ZONEID, and GetChange on arn:aws:route53:::change/*`,
  create: createRoute53Provider,
});
