import { checkChangeLimits } from "./move/changes.js";
import { planMove } from "./move/move.js";
import type { ChangeSet, ProviderCapabilities } from "./changes.js";
import { formatDuration } from "./duration.js";
import type { AnyPlan as Plan } from "./plan/schema.js";
import type { DnsRecord } from "./records.js";
import { formatUtc } from "./time.js";
import { count } from "./words.js";
import { relativeLabel, STEP_KINDS, type StepKind, type TimelineStep } from "./timeline.js";

/** Planned times and TTLs are shown exactly (`90m`, not `1h30m` rounded). */
const WHOLE = { whole: true } as const;

export interface Timeline {
  name: string;
  now: Date;
  swapAt: Date;
  steps: TimelineStep[];
  targets: DnsRecord[];
  /** SPF records that name an old address: changed along with the targets. */
  spf: DnsRecord[];
  /** The other members of a target's RRset, which stay: their TTL follows the targets' (one TTL per RRset). */
  siblings: DnsRecord[];
  info: Array<{ record: DnsRecord; why: string }>;
  /** Steps larger than the plan's limits (dns.maxChanges, 30 % of a zone): applying them needs --force. */
  limits: string[];
  /** Undoes the whole move from any stage before the drain. */
  rollback: ChangeSet;
  warnings: string[];
  /** Set when the plan was accepted with --accept-risk although the TTL drop lands too late. */
  risk?: { reason: string; safeUntil: Date };
}

export type TimelineResult =
  | { ok: true; timeline: Timeline }
  | { ok: false; reason: string; earliestSafeSwap: Date | undefined; problems: string[] };

export interface PlanTimelineOptions {
  capabilities: ProviderCapabilities;
  acceptRisk?: boolean;
}

const MINUTE = 60_000;

/** Rounds up to the next whole minute (a time people can type). */
export function ceilMinute(ms: number): number {
  return Math.ceil(ms / MINUTE) * MINUTE;
}

/**
 * Computes the whole timeline of a move as data: when each step runs and exactly which records it
 * changes. Pure: the same plan, records and `now` give the same timeline. A plan whose TTL drop cannot
 * land a full old TTL (plus the margin) before the swap is refused with the earliest safe swap time,
 * unless `acceptRisk`, which then carries a warning.
 */
export function planTimeline(
  plan: Plan,
  records: readonly DnsRecord[],
  now: Date,
  options: PlanTimelineOptions,
): TimelineResult {
  const caps = options.capabilities;
  const addresses = { old: plan.old, new: plan.new };
  const names = plan.dns.records === "auto" ? undefined : plan.dns.records;
  const zones = new Set(plan.dns.zones);
  // One move planner: what moves, what stays, the SPF records and every step's change set.
  const move = planMove(
    records.filter((r) => zones.has(r.zone)),
    addresses,
    { names, lowTtl: plan.dns.lowTtl, capabilities: caps },
  );
  if (move.problems.length > 0) {
    return {
      ok: false,
      reason: "the records cannot be moved as planned",
      earliestSafeSwap: undefined,
      problems: move.problems,
    };
  }
  const { targets } = move;
  if (targets.length === 0) {
    const olds = [plan.old.ipv4, plan.old.ipv6].filter(Boolean).join(", ");
    return {
      ok: false,
      reason: `no A/AAAA record in ${plan.dns.zones.join(", ")} points at the old host (${olds}); nothing to move`,
      earliestSafeSwap: undefined,
      problems: [],
    };
  }

  const swapAt = plan.schedule.swapAt;
  const swapMs = swapAt.getTime();
  const { lower, swap, restore, rollback } = move;
  // A step that changes many records, or much of a zone, is shown and needs --force (like octoDNS).
  const zoneSizes: Record<string, number> = {};
  for (const r of records) if (zones.has(r.zone)) zoneSizes[r.zone] = (zoneSizes[r.zone] ?? 0) + 1;
  const limits = [lower, swap, restore].flatMap((set) =>
    checkChangeLimits(set, zoneSizes, { maxChanges: plan.dns.maxChanges }),
  );
  const warnings: string[] = [];
  let risk: Timeline["risk"];

  const steps: TimelineStep[] = [];
  let lowerHoldMs: number | undefined;
  /** A step's time and its label relative to the swap. */
  const when = (at: Date) => ({ at, label: relativeLabel(at, swapAt) });
  if (lower.changes.length > 0) {
    const maxOldTtl = Math.max(...lower.changes.map((c) => c.before.ttl));
    lowerHoldMs = maxOldTtl * 1000;
    const lowerMs = swapMs - maxOldTtl * 1000 - plan.schedule.margin;
    let at = lowerMs;
    const lateMs = now.getTime() - lowerMs;
    if (lateMs > 0 && lateMs < plan.schedule.margin) {
      // Late by less than the margin (a timer that fired a little after the drop's time): the drop still
      // lands a whole old TTL before the swap, with what is left of the margin.
      at = now.getTime();
      warnings.push(
        `the TTL drop starts ${formatDuration(Math.ceil(lateMs / 1000) * 1000, WHOLE)} after its time; ${formatDuration(Math.floor((plan.schedule.margin - lateMs) / 1000) * 1000, WHOLE)} of the ${formatDuration(plan.schedule.margin, WHOLE)} margin is left`,
      );
    } else if (lowerMs < now.getTime()) {
      const earliest = new Date(ceilMinute(now.getTime() + maxOldTtl * 1000 + plan.schedule.margin));
      const reason =
        `the TTL drop must land ${formatDuration(maxOldTtl * 1000, WHOLE)} (the highest old TTL) + ${formatDuration(plan.schedule.margin, WHOLE)} (margin) ` +
        `before the swap, i.e. by ${formatUtc(new Date(lowerMs), { seconds: true })}, which is already past`;
      if (!options.acceptRisk) return { ok: false, reason, earliestSafeSwap: earliest, problems: [] };
      at = now.getTime();
      risk = { reason, safeUntil: new Date(now.getTime() + maxOldTtl * 1000) };
      warnings.push(
        `accepted risk: ${reason}; resolvers that cached a record just before ${formatUtc(now, { seconds: true })} may send clients to the old host until ${formatUtc(risk.safeUntil, { seconds: true })} (the relay covers them)`,
      );
    }
    steps.push({
      kind: "lower",
      ...when(new Date(at)),
      changes: lower,
      notes: unique(lower.changes.flatMap((c) => c.notes ?? [])),
    });
  } else {
    warnings.push(`every target already has a TTL at or below ${plan.dns.lowTtl}: no TTL to lower`);
  }

  const relayPorts = plan.relay.ports;
  const hasRelay = relayPorts.length > 0 || plan.relay.sockets.length > 0;
  if (hasRelay) {
    const ports = relayPorts.map((p) => ({ listen: p, to: plan.relay.targets[String(p)] ?? p }));
    steps.push({
      kind: "preflight",
      ...when(new Date(Math.max(now.getTime(), swapMs - plan.schedule.preflightBefore))),
      ports: ports.map((p) => p.to),
      tlsPorts: relayPorts.filter((p) => [443, 465, 993, 995].includes(p)),
      smtp: relayPorts.includes(25),
      notes: [],
    });
    const sync = plan.sync;
    if (sync !== undefined && sync.files.length > 0)
      steps.push({
        kind: "sync",
        ...when(new Date(Math.max(now.getTime(), swapMs - sync.warmBefore))),
        paths: sync.files.length,
        notes: [],
      });
    const synced =
      sync === undefined
        ? []
        : [...(sync.files.length ? ["files"] : []), ...(sync.mysql ? [`mysql ${sync.mysql.mode}`] : [])];
    steps.push({
      kind: "handover",
      ...when(swapAt),
      mode: plan.handover.mode,
      ports,
      sockets: plan.relay.sockets.map((s) => s.listen),
      stopServices: plan.handover.stopServices,
      ...(sync === undefined ? {} : { sync: { maxHoldMs: sync.maxHold, onTimeout: sync.onTimeout, what: synced } }),
      // What rebind costs, in one line: nothing with a firewall on the old host, a few ms of refusals without.
      notes:
        plan.handover.mode === "rebind"
          ? [
              "rebind: nftables/iptables on the old host hold new connections while the port changes hands (a client waits ~1 s); without either they are refused for a few ms (redirect refuses none)",
            ]
          : [],
    });
  }

  const proxied = swap.changes.filter((c) => c.record.proxied).length;
  steps.push({
    kind: "swap",
    ...when(swapAt),
    to: [plan.new.ipv4, plan.new.ipv6].filter((a): a is string => !!a),
    writes: caps.batch ? (caps.atomicSwap ? "atomic" : "batch") : "each",
    changes: swap,
    // No cache may still hold a record with its old, long TTL: the swap waits that long after the drop is
    // done (it lands that early when on time). A plan accepted with --accept-risk swaps on time regardless.
    ...(lowerHoldMs !== undefined && !risk ? { hold: { after: "lower" as const, ms: lowerHoldMs } } : {}),
    notes: proxied > 0 ? [`${count(proxied, "proxied record")}: clients see the change at once`] : [],
  });
  steps.push({
    kind: "watch",
    ...when(swapAt),
    resolvers: plan.propagation.resolvers === "default" ? "default" : plan.propagation.resolvers.length,
    ...(plan.propagation.atlas ? { atlasProbes: plan.propagation.atlas.probes } : {}),
    until: "until propagated",
    notes: [],
  });
  if (hasRelay) {
    const { quiet, deadline } = plan.schedule.drain;
    steps.push({
      kind: "drain",
      ...when(new Date(swapMs + quiet)),
      quietMs: quiet,
      until: `when quiet ${formatDuration(quiet, WHOLE)}`,
      deadline: new Date(swapMs + deadline),
      notes: [],
    });
  }
  steps.push({
    kind: "restore",
    ...when(new Date(swapMs + plan.schedule.restoreTtlAfter)),
    changes: restore,
    notes: [],
  });

  const order: readonly StepKind[] = STEP_KINDS;
  steps.sort((a, b) => a.at.getTime() - b.at.getTime() || order.indexOf(a.kind) - order.indexOf(b.kind));

  const timeline: Timeline = {
    name: plan.name,
    now,
    swapAt,
    steps,
    targets,
    spf: move.spf,
    siblings: move.siblings,
    info: move.info,
    rollback,
    warnings,
    limits,
  };
  if (risk) timeline.risk = risk;
  return { ok: true, timeline };
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
