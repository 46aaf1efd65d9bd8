import type { OptionsOf, OptionsShape, PlanProvider } from "@cutover/core/plan";
import type { ChangeOutcome, DnsRecord, ProviderCapabilities, RecordChange, Zone } from "@cutover/core";

export interface ApplyOptions {
  signal?: AbortSignal;
}

export interface DnsProvider {
  readonly name: string;
  readonly capabilities: ProviderCapabilities;
  listZones(): Promise<Zone[]>;
  /** Every record of a zone (by name), with effective TTLs. */
  listRecords(zone: string): Promise<DnsRecord[]>;
  /**
   * Writes the given changes of one zone. Each change's `after` is written over the record identified by
   * its id. Returns one outcome per change; must not throw for a per-record failure.
   */
  applyChanges(zone: string, changes: readonly RecordChange[], options?: ApplyOptions): Promise<ChangeOutcome[]>;
  /** Sets the reverse DNS (PTR) of an address the provider hosts (Linode), e.g. for a mail server. */
  setReverseDns?(address: string, name: string): Promise<void>;
  /**
   * Finishes what an earlier write of this zone left undone, such as a zone file written whose reload
   * failed or was cut off by a crash: a write is not done until the server serves it. Resolves to a line
   * saying what it did (undefined when nothing was pending); rejects when it still cannot be done.
   */
  finishPending?(zone: string): Promise<string | undefined>;
  /** Releases what the provider holds (connections, SDK interceptors). */
  close?(): Promise<void>;
}

/**
 * Knobs every provider takes besides its plan options: tests and benches tune them, a plan does not (its
 * schema has no such keys). Each provider reads those that apply to it.
 */
export interface ProviderTuning {
  /** Attempts after the first (the kit's retry policy). */
  retries?: number;
  /** Per request. */
  timeoutMs?: number;
  /** The request budget: `rateLimit` requests per `rateWindowMs`. */
  rateLimit?: number;
  rateWindowMs?: number;
  /** Linode's separate budget for paginated collections. */
  collectionRateLimit?: number;
  /** Requests (or batches) in flight at once. */
  concurrency?: number;
  batchConcurrency?: number;
  /** Cloudflare: 30 on Enterprise zones. */
  minTtl?: number;
  /** Route 53: how long to wait for INSYNC. */
  insyncTimeoutMs?: number;
  /** PowerDNS: false = no NOTIFY after a write. */
  notify?: boolean;
  /** The owner names a plan lists in `dns.records` (rfc2136 queries them when transfers are refused). */
  names?: readonly string[];
}

/** Settings a provider factory gets: the plan's `dns` section, the environment and the plan's directory. */
export interface ProviderConfig<O extends object = Record<string, unknown>> {
  provider: string;
  zones: readonly string[];
  apiUrl?: string;
  batchSize?: number;
  /** The provider's own options from the plan (its definition's schema), and tuning. */
  options: O & ProviderTuning;
  /** Paths in options resolve against this directory. */
  baseDir: string;
  env: Record<string, string | undefined>;
  /** Waits between retries and for rate limits; tests inject a fast one. Default: real timers. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type ProviderFactory<O extends object = Record<string, unknown>> = (config: ProviderConfig<O>) => DnsProvider;

/** What a provider can do, in a form a user compares (`cutover dns providers`, docs/providers.md). */
export interface ProviderTraits {
  /** How a zone's changes are written, in one line. */
  writes: string;
  /**
   * What lands all at once: "none" (one call per record), "batch" (a transaction per call), "rrset", "zone",
   * "file", or "compare-and-swap" (a zone's changes at once, and nothing if an RRset changed since read).
   */
  atomic: "none" | "batch" | "rrset" | "zone" | "file" | "compare-and-swap";
  /** Stores RRsets (one TTL per name and type) rather than records. */
  rrsets: boolean;
  /** Lowest TTL it takes for a record cutover changes (the provider's instance may know better). */
  minTtl: number;
  /** The provider's own word that its servers serve a change, if it has one (else only DNS read-back). */
  propagationSignal?: string;
  /** The edge Worker carries this provider (`schedule --with edge`). */
  edge: boolean;
}

/**
 * A provider as the registry knows it, declared in the provider's own file: its name in `dns.provider`, its
 * plan options, the environment variables it reads, what it can do, and its factory.
 */
export interface ProviderDefinition<
  N extends string = string,
  S extends OptionsShape = OptionsShape,
> extends PlanProvider<N, S> {
  /** One line: what it talks to. */
  title: string;
  /** Secret variables, in the order read; the first is the one docs and `init` name and the Worker binds. */
  tokens: readonly string[];
  /** Other variables it reads (endpoints, profiles). */
  env: readonly string[];
  /** Where the credential comes from, in a few words (for `cutover dns providers` and `init`). */
  credentials: string;
  traits: ProviderTraits;
  /** The provider's lines of `cutover init`'s plan template, under `dns:` (indented two spaces). */
  template: string;
  create: ProviderFactory<OptionsOf<S>>;
}
