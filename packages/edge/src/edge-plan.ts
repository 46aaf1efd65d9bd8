import { RETRY, type RetryPolicy, type TimelineStep, type ChangeSet, type DnsRecord } from "@cutover/core";
import { providerDefinition } from "@cutover/dns";
import { EdgeError } from "./errors.js";

/** The Durable Object class the Worker exports; one object per plan holds its steps, its log and its alarm. */
export const EDGE_CLASS_NAME = "CutoverSchedule";
/** workerd's compatibility date the bundle is tested with (miniflare 3.20250718). */
export const EDGE_COMPATIBILITY_DATE = "2025-07-18";
/** `nodejs_compat` gives the providers Buffer, AsyncLocalStorage and node:crypto on Workers. */
export const EDGE_COMPATIBILITY_FLAGS = ["nodejs_compat"] as const;
/** The migration tag of the Durable Object class (bump with a new migration when the class changes). */
export const EDGE_MIGRATION_TAG = "v1";
/** DoH endpoints the checks ask when the plan lists none (a Worker cannot send plain UDP DNS). */
export const DEFAULT_DOH_RESOLVERS = [
  "https://cloudflare-dns.com/dns-query",
  "https://dns.google/dns-query",
  "https://dns.quad9.net/dns-query",
] as const;

export type EdgeStepKind = "lower" | "swap" | "check" | "restore";

/** What a DoH check asks: each name's A/AAAA at each resolver, expecting the new address. */
export interface EdgeCheckSpec {
  resolvers: string[];
  targets: Array<{ name: string; type: string; expect: string; old: string }>;
}

interface EdgeStepBase {
  id: string;
  /** When the step is due (ms since the epoch). */
  at: number;
  summary: string;
}

/** lower, swap, restore: the change set, with each record as it was read when planning. */
export interface EdgeChangeStep extends EdgeStepBase {
  kind: "lower" | "swap" | "restore";
  changes: ChangeSet;
}

/** A DoH check after the swap (the Worker's watch: it reports, it never fails). */
export interface EdgeCheckStep extends EdgeStepBase {
  kind: "check";
  check: EdgeCheckSpec;
}

/** One step the Durable Object runs, at an absolute time: a union keyed by `kind`. */
export type EdgeStepSpec = EdgeChangeStep | EdgeCheckStep;

/**
 * Where the Worker sends its notifications. Only the webhook's origin is here (for the log and the
 * status); the URL itself (a chat service's carries its token in the path) and the signing secret are
 * secret bindings, NOTIFY_WEBHOOK_URL and NOTIFY_SECRET.
 */
export interface EdgeNotifyData {
  webhook?: { origin: string; signed: boolean };
}

/** The secret bindings notifications need (values from the plan's notify section at deploy time). */
export const NOTIFY_SECRET_NAMES = { url: "NOTIFY_WEBHOOK_URL", secret: "NOTIFY_SECRET" } as const;

/**
 * Everything the Worker knows about a plan (no secrets in it). It travels as a module of its own,
 * `plan.js`, beside `worker.js`: a variable binding holds at most 5 KB, which three records outgrow.
 */
export interface EdgePlanData {
  version: 1;
  name: string;
  provider: {
    name: "cloudflare" | "linode";
    apiUrl?: string;
    batchSize?: number;
    options: Record<string, unknown>;
  };
  zones: string[];
  /** The moved records exactly as they were before any change. */
  originals: DnsRecord[];
  /** The change set that puts every record back (run by `cutover rollback` on the admin's machine). */
  rollback: ChangeSet;
  steps: EdgeStepSpec[];
  /**
   * The swap waits until this long after the TTL drop finished (the highest old TTL), so no cache can
   * still hold a record with the old, long TTL. When the drop was done before the upload, `lowerDoneAt`.
   */
  swapAfterLowerMs: number;
  lowerDoneAt?: number;
  /** A failed step is tried again after `firstMs`, doubling up to `maxMs` (core's `RETRY` unless a test shortens it). */
  retry: RetryPolicy;
  plannedAt: string;
  /** Notifications (docs/notifications.md), when the plan has a webhook. */
  notify?: EdgeNotifyData;
}

/** A binding in the upload's metadata, as the Workers API takes it. Secret values are added at upload. */
export type WorkerBinding =
  | { type: "durable_object_namespace"; name: string; class_name: string }
  | { type: "secret_text"; name: string; text: string }
  | { type: "json"; name: string; json: unknown }
  | { type: "plain_text"; name: string; text: string };

export interface WorkerMetadata {
  main_module: string;
  compatibility_date: string;
  compatibility_flags: string[];
  bindings: WorkerBinding[];
  migrations?: { old_tag?: string; new_tag: string; new_sqlite_classes: string[] };
}

/** A module part of the upload besides the Worker's code. */
export interface WorkerModule {
  name: string;
  type: "application/javascript+module";
  text: string;
}

/** The module the Worker imports its plan from (`import plan from "./plan.js"`). */
export const PLAN_MODULE = "plan.js";

/**
 * The plan as an ES module. `JSON.parse` of one string starts faster than the same object as a literal
 * (V8 parses JSON in one pass), which counts against the Worker's startup time.
 */
export function planModuleText(data: EdgePlanData): string {
  return `// The plan ${data.name}, written by cutover at ${data.plannedAt}: its steps, records and originals.\nexport default JSON.parse(${JSON.stringify(JSON.stringify(data))});\n`;
}

/** What `planEdgeDeployment` returns: the script to upload, minus the secret values. */
export interface EdgeDeployment {
  scriptName: string;
  mainModule: string;
  /** The modules uploaded beside the Worker's code: `plan.js`. */
  modules: WorkerModule[];
  /** The metadata with every secret_text binding's `text` empty; `deployEdge` fills them in. */
  metadata: WorkerMetadata;
  /** Names of the secret bindings (values never appear here). */
  secretNames: string[];
  data: EdgePlanData;
}

export interface EdgePlanInput {
  name: string;
  provider: string;
  apiUrl?: string | undefined;
  batchSize?: number | undefined;
  providerOptions?: Record<string, unknown>;
  zones: readonly string[];
  swapAt: Date;
  /**
   * The timeline's steps, each with the line a view says of it (the CLI's `stepSummary`: the Worker shows it
   * and does not carry the CLI's output code); only the DNS steps (lower, swap, restore) run at the edge.
   */
  steps: ReadonlyArray<TimelineStep<ChangeSet> & { summary: string }>;
  /** Kinds already done on the admin's machine: not uploaded. */
  done?: readonly string[];
  lowerDoneAt?: Date | undefined;
  rollback: ChangeSet;
  originals: readonly DnsRecord[];
  /** DoH endpoints for the checks after the swap; default `DEFAULT_DOH_RESOLVERS`. */
  resolvers?: readonly string[];
  /** Offsets after the swap for the DoH checks; default 1 minute, the low TTL, and twice that. */
  checkOffsetsMs?: readonly number[];
  retry?: RetryPolicy;
  /** The plan's webhook: its URL (uploaded as a secret binding, never in the plan module) and whether it is signed. */
  notify?: { webhook?: { url: string; signed: boolean } };
  now: Date;
}

/** `cutover-<plan name>`: the Worker's name (Workers allow 63 characters: lowercase, digits, dashes). */
export function edgeScriptName(planName: string): string {
  const name = `cutover-${planName}`;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) {
    throw new EdgeError(`plan name ${planName} makes an invalid Worker name ${name} (at most 55 characters)`, {
      code: "E_EDGE_NAME",
    });
  }
  return name;
}

/** Why a provider cannot run in the Worker, one line each (the Worker bundles the cloudflare and linode clients). */
const EDGE_REFUSALS: Record<string, string> = {
  zonefile: "a Worker cannot write zone files on your server",
  rfc2136: "a Worker has no DNS UPDATE (TSIG over TCP) client",
  powerdns: "its API lives on your own server (private address, webserver-allow-from), which a Worker cannot reach",
  route53: "the Worker does not carry a Route 53 client yet (SigV4 signing with fetch would work; not built)",
  digitalocean: "the Worker does not carry a DigitalOcean client yet (its API is plain HTTPS; not built)",
  hetzner: "the Worker does not carry a Hetzner client yet (its API is plain HTTPS; not built)",
  other: "the Worker carries only the cloudflare and linode clients",
};

/**
 * The binding the provider's token is uploaded under: its first token variable as the provider declares it
 * (the Worker hands its string bindings to the provider, which reads its own variables).
 */
export function tokenBindingFor(provider: string): string | undefined {
  return providerDefinition(provider)?.tokens[0];
}

/** The names of the secret bindings a provider needs: its token's (`tokenBindingFor`) and the control token. */
export function secretNamesFor(provider: string): string[] {
  const token = tokenBindingFor(provider);
  return [...(token === undefined ? [] : [token]), "CONTROL_TOKEN"];
}

/**
 * Plans what `deployEdge` uploads: the steps with absolute times, the plan data, the metadata (bindings,
 * migrations) with the secret values left empty. Pure: the same input gives the same deployment.
 */
export function planEdgeDeployment(input: EdgePlanInput): EdgeDeployment {
  if (input.provider !== "cloudflare" && input.provider !== "linode") {
    throw new EdgeError(
      `dns.provider ${input.provider} cannot run at the edge: ${EDGE_REFUSALS[input.provider] ?? EDGE_REFUSALS.other}`,
      {
        code: "E_EDGE_PROVIDER",
        hint: "use `cutover schedule --with systemd` or `--with at` on a machine you own",
      },
    );
  }
  const scriptName = edgeScriptName(input.name);
  const done = new Set(input.done ?? []);
  const steps: EdgeStepSpec[] = [];
  let swap: ChangeSet | undefined;
  let swapAt = input.swapAt.getTime();
  let maxOldTtl = 0;
  for (const s of input.steps) {
    if (s.kind !== "lower" && s.kind !== "swap" && s.kind !== "restore") continue;
    if (s.kind === "lower") maxOldTtl = Math.max(0, ...s.changes.changes.map((c) => c.before.ttl));
    if (s.kind === "swap") {
      swap = s.changes;
      swapAt = s.at.getTime();
    }
    if (done.has(s.kind)) continue;
    steps.push({ id: s.kind, kind: s.kind, at: s.at.getTime(), summary: s.summary, changes: s.changes });
  }
  if (swap && !done.has("swap")) {
    // The moved addresses (a staying member of their RRset answers the same before and after: not a check).
    const targets = swap.changes
      .filter((c) => (c.type === "A" || c.type === "AAAA") && !c.sibling)
      .map((c) => ({ name: c.name, type: c.type, expect: c.after.content, old: c.before.content }));
    const lowTtl = Math.max(0, ...swap.changes.map((c) => c.after.ttl));
    const offsets = input.checkOffsetsMs ?? [60_000, lowTtl * 1000, 2 * lowTtl * 1000];
    const resolvers = [...(input.resolvers ?? DEFAULT_DOH_RESOLVERS)];
    const times = [...new Set(offsets.filter((o) => o > 0).map((o) => swapAt + o))].sort((a, b) => a - b);
    times.forEach((at, i) => {
      steps.push({
        id: `check-${i + 1}`,
        kind: "check",
        at,
        summary: `check ${targets.length} name(s) at ${resolvers.length} DoH resolver(s)`,
        check: { resolvers, targets },
      });
    });
  }
  const order: EdgeStepKind[] = ["lower", "swap", "check", "restore"];
  steps.sort((a, b) => a.at - b.at || order.indexOf(a.kind) - order.indexOf(b.kind));
  if (steps.length === 0) {
    throw new EdgeError("every DNS step of this plan is already done: nothing to run at the edge", {
      code: "E_EDGE_NOTHING",
    });
  }
  const data: EdgePlanData = {
    version: 1,
    name: input.name,
    provider: {
      name: input.provider,
      ...(input.apiUrl ? { apiUrl: input.apiUrl } : {}),
      ...(input.batchSize ? { batchSize: input.batchSize } : {}),
      options: { ...input.providerOptions },
    },
    zones: [...input.zones],
    originals: [...input.originals],
    rollback: input.rollback,
    steps,
    swapAfterLowerMs: maxOldTtl * 1000,
    ...(input.lowerDoneAt ? { lowerDoneAt: input.lowerDoneAt.getTime() } : {}),
    retry: input.retry ?? RETRY,
    plannedAt: input.now.toISOString(),
  };
  const hook = input.notify?.webhook;
  if (hook) data.notify = { webhook: { origin: new URL(hook.url).origin, signed: hook.signed } };
  const secretNames = [
    ...secretNamesFor(input.provider),
    ...(hook ? [NOTIFY_SECRET_NAMES.url] : []),
    ...(hook?.signed ? [NOTIFY_SECRET_NAMES.secret] : []),
  ];
  const metadata: WorkerMetadata = {
    main_module: "worker.js",
    compatibility_date: EDGE_COMPATIBILITY_DATE,
    compatibility_flags: [...EDGE_COMPATIBILITY_FLAGS],
    bindings: [
      { type: "durable_object_namespace", name: "SCHEDULE", class_name: EDGE_CLASS_NAME },
      ...secretNames.map((name) => ({ type: "secret_text" as const, name, text: "" })),
    ],
    migrations: { new_tag: EDGE_MIGRATION_TAG, new_sqlite_classes: [EDGE_CLASS_NAME] },
  };
  const modules: WorkerModule[] = [
    { name: PLAN_MODULE, type: "application/javascript+module", text: planModuleText(data) },
  ];
  return { scriptName, mainModule: "worker.js", modules, metadata, secretNames, data };
}
