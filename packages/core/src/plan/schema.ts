import { z } from "zod";
import {
  argv,
  bindAddress,
  clip,
  duration,
  filePath,
  host as hostOrAddress,
  hostname,
  hostPort,
  httpUrl,
  ipv4,
  ipv6,
  port,
  server,
  serviceName,
  shellCommand,
  socketPath,
  sshTarget,
} from "./fields.js";
import type { OptionKinds, OptionsShape, PlanProvider } from "./provider.js";

const OFFSET_RE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;
const NAIVE_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/;

/** An instant: an ISO 8601 date-time with `Z` or an offset. A naive local time is refused. */
export const instant = z
  .string({ error: "expected a date-time such as 2026-12-01T14:00:00Z" })
  .transform((text, ctx) => {
    const trimmed = text.trim();
    if (NAIVE_RE.test(trimmed)) {
      ctx.addIssue({
        code: "custom",
        message: `"${clip(text)}" has no UTC offset, so it is ambiguous; write ${trimmed.replace(" ", "T")}${trimmed.length <= 10 ? "T00:00:00" : ""}Z or add the offset, e.g. +01:00`,
      });
      return z.NEVER;
    }
    const ms = OFFSET_RE.test(trimmed) ? Date.parse(trimmed.replace(" ", "T")) : Number.NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({
        code: "custom",
        message: `"${clip(text)}" is not a date-time; write it like 2026-12-01T14:00:00Z or 2026-12-01T15:00:00+01:00`,
      });
      return z.NEVER;
    }
    return new Date(ms);
  });

const ttl = z
  .number({ error: "expected a TTL in seconds" })
  .int({ error: "a TTL is a whole number of seconds" })
  .min(1, { error: "a TTL is at least 1 second" })
  .max(86400, { error: "a low TTL above 86400 s (a day) defeats its purpose; 300 is usual" });

const fingerprint = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, {
  error: "expected an OpenSSH SHA256 fingerprint such as SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
});

const host = z.strictObject({
  ipv4: ipv4.optional(),
  ipv6: ipv6.optional(),
  ssh: sshTarget.optional(),
  hostKey: fingerprint.optional(),
  /** Reverse DNS (PTR) to set for the new address, e.g. for a mail server. */
  rdns: hostname.optional(),
});

const dnsCommon = {
  zones: z.array(hostname).min(1, { error: "list at least one zone, e.g. [example.com]" }),
  records: z.union([z.literal("auto"), z.array(hostname).min(1)]).default("auto"),
  lowTtl: ttl.default(300),
  apiUrl: httpUrl.optional(),
  batchSize: z.number().int().min(1).max(3500).default(200),
  /** A change touching more records than this (or 30 % of a zone) needs --force. */
  maxChanges: z.number().int().min(1).max(1_000_000).default(20),
  /** How long one request to the provider may take before it is retried (default: the provider's, 10-60 s). */
  requestTimeout: duration.optional(),
};

/** The kinds of values provider options hold, with the plan's own validators (and messages) for each. */
const optionKinds: OptionKinds = { z, hostname, filePath, hostPort, shellCommand };

/** One `dns:` shape per provider: the common keys plus the options the provider declares in its own file. */
function dnsVariant<const N extends string, S extends OptionsShape>(provider: PlanProvider<N, S>) {
  return z.strictObject({
    provider: z.literal(provider.name),
    ...dnsCommon,
    ...(provider.options(optionKinds) as ReturnType<S>),
  });
}
type VariantOf<D> = D extends PlanProvider<infer N, infer S> ? ReturnType<typeof dnsVariant<N, S>> : never;
type Variants<T extends readonly unknown[]> = { -readonly [K in keyof T]: VariantOf<T[K]> };

/** The `dns:` section: one variant per provider, told apart by `provider`. */
function dnsSchema<const P extends readonly PlanProvider[]>(providers: P) {
  const names = providers.map((d) => `"${d.name}"`);
  return z.discriminatedUnion(
    "provider",
    providers.map((d) => dnsVariant(d)) as unknown as Variants<P> & [VariantOf<P[number]>],
    { error: `dns.provider must be one of ${names.slice(0, -1).join(", ")} or ${names.at(-1)}` },
  ) as z.ZodDiscriminatedUnion<Variants<P>, "provider">;
}

/** The providers that take `key` as a plan option under `dns:`, for a key given to another provider. */
export function providersWithOption(providers: readonly PlanProvider[], key: string): string[] {
  return providers.filter((d) => Object.hasOwn(d.options(optionKinds), key)).map((d) => d.name);
}

const schedule = z.strictObject({
  swapAt: instant,
  margin: duration.default(3_600_000),
  restoreTtlAfter: duration.default(86_400_000),
  preflightBefore: duration.default(900_000),
  drain: z
    .strictObject({ quiet: duration.default(1_800_000), deadline: duration.default(259_200_000) })
    .default({ quiet: 1_800_000, deadline: 259_200_000 }),
});

const handover = z.strictObject({
  mode: z.enum(["redirect", "rebind"], { error: 'handover.mode is "redirect" or "rebind"' }).default("redirect"),
  stopServices: z.array(serviceName).max(100, { error: "at most 100 services" }).default([]),
  /** How the relay stops a service at the handover, as argv with {service}; default systemctl stop {service}. */
  stopCommand: argv
    .refine((a) => a.some((x) => x.includes("{service}")), {
      error: 'stopCommand must contain {service}, e.g. [service, "{service}", stop]',
    })
    .optional(),
  /** How the relay starts a service again when a hold is aborted (sync.onTimeout: abort); default systemctl start. */
  startCommand: argv
    .refine((a) => a.some((x) => x.includes("{service}")), {
      error: 'startCommand must contain {service}, e.g. [service, "{service}", start]',
    })
    .optional(),
});

/** An absolute path on one of the hosts (the plan's own files are relative to it; these never are). */
const hostPath = z
  .string()
  .startsWith("/", { error: "a path on the host is absolute, e.g. /var/www" })
  .max(4096, { error: "a path is at most 4096 characters" })
  .refine((s) => !/[\0\s]/.test(s), {
    error: "a path to sync cannot contain spaces or a NUL byte (rsync -e splits on them)",
  });

/** A synced path: `/var/www`, or `{ path: /var/vmail, delete: true }`, or `{ path: /srv/a, to: /srv/b }`. */
const syncPath = z.union([
  hostPath,
  z.strictObject({
    path: hostPath,
    /** Where it goes on the new host; default the same path. */
    to: hostPath.optional(),
    /** Files gone on the old host are deleted on the new one too (rsync --delete). Default false. */
    delete: z.boolean().optional(),
  }),
]);

const database = z
  .string()
  .regex(/^[A-Za-z0-9_$-]{1,64}$/, { error: "a database name such as shop (letters, digits, _ $ -)" });

const mysqlSync = z.strictObject({
  /** `dump`: mysqldump --single-transaction into the new server; `replication`: promote the new server's replica. */
  mode: z.enum(["dump", "replication"], { error: 'sync.mysql.mode is "dump" or "replication"' }),
  /** dump: the databases to copy. */
  databases: z.array(database).min(1).max(1000).optional(),
  /** Option file with user and password on the old host ([client] group); default /root/.my.cnf. */
  optionsFile: hostPath.default("/root/.my.cnf"),
  /** The same on the new host. */
  newOptionsFile: hostPath.default("/root/.my.cnf"),
});

const sync = z.strictObject({
  /** Paths on the old host copied to the new one with rsync over SSH: a warm pass, then the final delta at the handover. */
  files: z.array(syncPath).max(100, { error: "at most 100 paths" }).default([]),
  mysql: mysqlSync.optional(),
  /** The warm pass (rsync ahead of time, also by hand: cutover sync warm) runs this long before the swap. Default 1h. */
  warmBefore: duration.default(3_600_000),
  /** The longest new connections are held at the handover while the final sync runs. Default 30s. */
  maxHold: duration
    .refine((ms) => ms >= 1000 && ms <= 3_600_000, {
      error: "maxHold is from 1s to 1h: clients wait that long at most (30s is usual)",
    })
    .default(30_000),
  /** Past maxHold (or when the sync fails): `release` to the new host anyway, or `abort`: the old services take over again. */
  onTimeout: z.enum(["release", "abort"], { error: 'sync.onTimeout is "release" or "abort"' }).default("release"),
  /** Connections held at once; past it new ones are refused. Default 1000. */
  maxHeld: z.number().int().min(1).max(1_000_000).default(1000),
  /** How the old host's ssh reaches the new host (new.ssh): a key and a known_hosts file on the old host. */
  ssh: z.strictObject({ identity: hostPath.optional(), knownHosts: hostPath.optional() }).default({}),
});

const upstream = z.strictObject({
  via: z.enum(["tcp", "ssh"]).default("tcp"),
  host: hostOrAddress.optional(),
  port: port.optional(),
  path: socketPath.optional(),
});

const socket = z.strictObject({
  listen: socketPath,
  owner: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$/i, {
      error: "owner is user or user:group, e.g. mysql:mysql",
    })
    .optional(),
  mode: z
    .string()
    .regex(/^0?[0-7]{3}$/, { error: 'mode is octal in quotes, e.g. "0660"' })
    .optional(),
  to: upstream,
});

/**
 * A relayed port: `80` (the same port on the new host), `80: 8081` (YAML's `[80: 8081]`), or
 * `{ listen: 80, to: 8081 }`: 80 on the old host goes to 8081 on the new one (e.g. a second listener
 * with `proxy_protocol` that only the relay uses).
 */
const relayPort = z.union([
  port,
  z.strictObject({ listen: port, to: port }),
  z
    .record(z.string().regex(/^\d+$/, { error: "write 80: 8081 (old port: new port)" }), port)
    .refine((r) => Object.keys(r).length === 1, { error: "one port each: [80: 8081, 443]" }),
]);

const relay = z
  .strictObject({
    ports: z.array(relayPort).default([]),
    /** Bind address on the old host; default: every address. */
    listen: bindAddress.optional(),
    proxyProtocol: z.record(z.string(), z.enum(["v1", "v2"], { error: 'PROXY protocol is "v1" or "v2"' })).default({}),
    sockets: z.array(socket).default([]),
    /** Processes serving the relay's connections on the old host (its cores); default 1. */
    workers: z
      .number()
      .int({ error: "a whole number of processes, e.g. 2 (the old host's cores)" })
      .min(1, { error: "at least 1 process" })
      .max(64, { error: "at most 64 processes" })
      .optional(),
  })
  // `ports` as the old host's ports; `targets` the port each goes to on the new host where it differs.
  .transform(({ ports, ...rest }) => {
    const targets: Record<string, number> = {};
    const listen = ports.map((p) => {
      const [from, to] = portPair(p);
      if (from !== to) targets[String(from)] = to;
      return from;
    });
    return { ...rest, ports: listen, targets };
  });

function portPair(p: number | Record<string, number>): [number, number] {
  if (typeof p === "number") return [p, p];
  if (typeof p.listen === "number" && typeof p.to === "number") return [p.listen, p.to];
  const [k, v] = Object.entries(p)[0]!;
  return [Number(k), v];
}

const label = z.string().trim().min(1).max(80);
/** A resolver: its address, or the address with who runs it and where (shown in every view). */
const resolverItem = z.union([
  server({ urls: true }),
  z.strictObject({ server: server({ urls: true }), operator: label.optional(), location: label.optional() }),
]);
const resolverList = z.union([z.literal("default"), z.array(resolverItem).min(1).max(1000)]);

const authoritative = z.union([
  z.literal(false),
  z.strictObject({
    /** A recursive resolver used only to locate the zone's servers (default: /etc/resolv.conf). */
    bootstrap: server({ urls: false }).optional(),
    /** NS name → addresses (ip, ip:port), instead of resolving them (split DNS, tests, the demo). */
    nsAddresses: z.record(hostname, z.array(server({ urls: false })).min(1)).optional(),
    /** Ask the parent zone for the delegation too (default true). */
    parent: z.boolean().optional(),
  }),
]);

const propagation = z.strictObject({
  resolvers: resolverList.default("default"),
  /** How to check every authoritative server; false skips the check. */
  authoritative: authoritative.default({}),
  /** Stop watching after this long past the swap even if some resolvers still answer old (default: old TTL + margin). */
  timeout: duration.optional(),
  atlas: z
    .strictObject({
      probes: z.number().int().min(1).max(1000).default(50),
      countries: z
        .array(z.string().regex(/^[A-Za-z]{2}$/, { error: "a country is a two-letter code such as DE" }))
        .optional(),
    })
    .optional(),
});

const notify = z.strictObject({
  /** A JSON POST per event; signed with HMAC-SHA256 when the secret's environment variable is named. */
  webhook: z
    .union([
      httpUrl,
      z.strictObject({
        url: httpUrl,
        secretEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/, {
            error: "secretEnv is an environment variable's name, e.g. CUTOVER_NOTIFY_SECRET",
          })
          .optional(),
      }),
    ])
    .transform((w) => (typeof w === "string" ? { url: w } : w))
    .optional(),
  /** A shell command run per event with the event's JSON on stdin. */
  command: shellCommand.optional(),
});

/** An IANA time zone such as Europe/Berlin, checked against the runtime's zone database. */
export const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { error: (issue) => `"${String(issue.input)}" is not a time zone; write an IANA name such as Europe/Berlin or UTC` },
);

/**
 * The plan file's schema for the given providers (`@cutover/dns`'s `providerRegistry`): `strictObject`s all
 * the way down, so a typo is an error; the `dns:` part is one variant per provider.
 */
export function createPlanSchema<const P extends readonly PlanProvider[]>(providers: P) {
  return z.strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
      error: "name is lowercase letters, digits and dashes, e.g. colo-to-linode",
    }),
    old: host,
    new: host,
    dns: dnsSchema(providers),
    schedule,
    handover: handover.default({ mode: "redirect", stopServices: [] }),
    relay: relay.default({ ports: [], proxyProtocol: {}, sockets: [], targets: {} }),
    propagation: propagation.default({ resolvers: "default", authoritative: {} }),
    /** Zero data loss: the data the old services write, copied while the relay holds new connections (#21). */
    sync: sync.optional(),
    notify: notify.optional(),
    /** The time zone views print times in (the journal stays UTC); default UTC. */
    timezone: timeZone.optional(),
  });
}

export type PlanSchema<P extends readonly PlanProvider[]> = ReturnType<typeof createPlanSchema<P>>;
/** A valid plan for the given providers (`PlanOf<typeof providerRegistry>`). */
export type PlanOf<P extends readonly PlanProvider[]> = z.output<PlanSchema<P>>;
export type PlanInputOf<P extends readonly PlanProvider[]> = z.input<PlanSchema<P>>;
/** A plan whatever its provider: what the checks and views that read only the common keys take. */
export type AnyPlan = PlanOf<readonly [PlanProvider<string, (kinds: OptionKinds) => Record<never, never>>]>;
