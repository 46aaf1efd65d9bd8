import {
  createPropagationWatch,
  parseResolverList,
  type PropagationCheckSet,
  type PropagationRound,
  type PropagationWatch,
  type PropagationWatchOptions,
} from "@cutover/dns";
import type { Plan } from "../plan/schema.js";
import { formatUtc } from "../output/timeline.js";
import type { StepRuntime } from "./run.js";
import { count } from "../output/words.js";
import type { DnsRecord } from "@cutover/core";
import { authoritativeOf } from "@cutover/core/plan";
import { type RunState, resultOf, type Lane, type StepOutcome, type WatchResult } from "@cutover/core/journal";
import { spfWithNew, type TimelineStep } from "@cutover/core";

export type { Lane, WatchResult };

/**
 * The watcher of a run in this process (streaks need consecutive rounds by the same watcher), with the
 * sets of `moveCheckSets`.
 */
const watchers = new WeakMap<RunState, PropagationWatch>();

/**
 * What a move changes, as sets of names that share one expectation: the IPv4 names (asked for A only), the
 * IPv6 names (AAAA only: a name that only had an A record is not asked for AAAA), and each SPF record the
 * swap gives the new address (its own expected text). The watch step and `cutover propagation --plan` both
 * watch these.
 */
export function moveCheckSets(
  plan: Pick<Plan, "old" | "new">,
  targets: readonly DnsRecord[],
  spf: readonly DnsRecord[],
  siblings: readonly DnsRecord[] = [],
): PropagationCheckSet[] {
  const families = [
    { type: "A", expect: plan.new.ipv4, old: plan.old.ipv4 },
    { type: "AAAA", expect: plan.new.ipv6, old: plan.old.ipv6 },
  ];
  const addresses = { old: plan.old, new: plan.new };
  return [
    ...families.flatMap((f) => {
      const names = [...new Set(targets.filter((t) => t.type === f.type).map((t) => t.name))];
      if (names.length === 0 || !f.expect) return [];
      // A name whose RRset keeps other addresses (siblings that stay) is new when it answers the new
      // address beside them: one set per group of staying addresses.
      const groups = new Map<string, { names: string[]; stay: string[] }>();
      for (const name of names) {
        const stay = siblings
          .filter((s) => s.name === name && s.type === f.type)
          .map((s) => s.content)
          .sort();
        const g = groups.get(stay.join(" ")) ?? { names: [], stay };
        g.names.push(name);
        groups.set(stay.join(" "), g);
      }
      // As the plan writes them: answers are compared in canonical form, and people read these.
      return [...groups.values()].map((g) => ({
        names: g.names,
        expect: [f.expect!, ...g.stay],
        old: [...(f.old ? [f.old] : []), ...g.stay],
        types: [f.type],
      }));
    }),
    // The SPF records the swap gave the new address: mail from the new host passes SPF once they have.
    ...spf.map((r) => ({
      names: [r.name],
      expect: [],
      records: { TXT: { expect: [spfWithNew(r.content, addresses)], old: [r.content] } },
      types: ["TXT"],
    })),
  ];
}

/** The watch options a plan gives (resolvers, authoritative servers, TTLs), without the names. */
export function planWatchOptions(
  plan: Plan,
  oldTtl: number,
): Pick<PropagationWatchOptions, "resolvers" | "authoritative" | "lowTtl" | "oldTtl"> {
  return {
    resolvers: parseResolverList(plan.propagation.resolvers),
    authoritative: authoritativeOf(plan) ?? (false as const),
    lowTtl: plan.dns.lowTtl,
    oldTtl,
  };
}

function lanesOf(targets: PropagationRound["targets"]): Lane[] {
  const by = new Map<string, PropagationRound["targets"]>();
  for (const t of targets) {
    const key = `${t.group}|${t.resolver}`;
    by.set(key, [...(by.get(key) ?? []), t]);
  }
  return [...by.values()].map((ts) => {
    const expires = Math.max(0, ...ts.map((t) => t.expiresAt ?? 0));
    return {
      resolver: ts[0]!.resolver,
      group: ts[0]!.group,
      ...(ts[0]!.operator ? { operator: ts[0]!.operator } : {}),
      ...(ts[0]!.location ? { location: ts[0]!.location } : {}),
      status: ts.find((t) => t.status !== "NEW")?.status ?? "NEW",
      propagated: ts.every((t) => t.propagated || t.unreachable),
      ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}),
    };
  });
}

function summarize(rounds: PropagationRound[], roundCount: number): WatchResult {
  const targets = rounds.flatMap((r) => r.targets);
  const stale = targets
    .filter((t) => !t.propagated && !t.unreachable)
    .map((t) => ({
      resolver: t.resolver,
      ...(t.operator ? { operator: t.operator } : {}),
      ...(t.location ? { location: t.location } : {}),
      name: `${t.name} ${t.type}`,
      status: t.status,
      ...(t.expiresAt ? { expiresAt: new Date(t.expiresAt).toISOString() } : {}),
    }));
  const counted = targets.filter((t) => !t.unreachable);
  const progress = counted.length ? counted.filter((t) => t.propagated).length / counted.length : 0;
  const auths = rounds.map((r) => r.authoritative).filter((a) => a !== undefined);
  const authProblems = auths.flatMap((a) => a.problems);
  const auth = auths.length
    ? authProblems.length === 0 && auths.every((a) => a.complete)
      ? "authoritative: all new"
      : `authoritative: ${count(authProblems.length, "problem")}`
    : "";
  const expectedBy = Math.max(0, ...rounds.map((r) => r.estimate.expectedBy ?? 0));
  const bound = Math.max(0, ...rounds.map((r) => r.estimate.bound ?? 0));
  const groups = new Map<string, { n: number; sum: number }>();
  for (const r of rounds)
    for (const g of r.groups) {
      const cur = groups.get(g.group) ?? { n: 0, sum: 0 };
      groups.set(g.group, { n: cur.n + g.total, sum: cur.sum + g.shareNew * g.total });
    }
  const allNew =
    counted.length > 0 &&
    counted.every((t) => t.status === "NEW") &&
    auths.every((a) => a.complete && a.problems.length === 0);
  const res: WatchResult = {
    allNew,
    summary: `${Math.round(progress * 100)}% propagated${auth ? `, ${auth}` : ""}${stale.length ? `, ${stale.length} stale` : ""}${expectedBy ? `, caches expire by ${formatUtc(new Date(expectedBy))}` : ""}`,
    propagated: rounds.every((r) => r.propagated),
    progress,
    rounds: roundCount,
    shares: [...groups].map(([group, g]) => ({ group, shareNew: g.n ? g.sum / g.n : 0 })),
    stale,
    checked: [...new Set(targets.map((t) => `${t.name} ${t.type}`))],
    lanes: lanesOf(targets),
  };
  if (expectedBy) res.expectedBy = new Date(expectedBy).toISOString();
  if (bound) res.bound = new Date(bound).toISOString();
  return res;
}

/**
 * The watch step: one propagation round (two when this process has not seen one yet, so that a `tick`
 * can judge "two consecutive rounds all new" by itself), then done when propagated, or when the bound
 * (swap + the highest old TTL + margin, or propagation.timeout) has passed with stale resolvers listed.
 */
export async function watchStep(rt: StepRuntime, step: TimelineStep): Promise<StepOutcome<"watch">> {
  const { plan } = rt.loaded;
  let watch = watchers.get(rt.state);
  if (!watch) {
    const maxOldTtl = Math.max(...rt.state.originals.map((o) => o.ttl));
    watch = createPropagationWatch({
      ...planWatchOptions(plan, maxOldTtl),
      names: [],
      expect: [],
      sets: moveCheckSets(plan, rt.timeline.targets, rt.timeline.spf, rt.timeline.siblings),
      changedAt: rt.timeline.swapAt.getTime(),
      now: () => rt.now().getTime(),
      ...(rt.sleep ? { sleep: rt.sleep } : {}),
    });
    watchers.set(rt.state, watch);
  }
  const previous = resultOf(rt.state, "watch");
  let round = await watch.round();
  if (!round.propagated && watch.report().rounds === 1 && rt.sleep && !rt.oneShot) {
    await rt.sleep(watch.nextInterval(), rt.signal);
    round = await watch.round();
  }
  const interval = watch.nextInterval();
  const result = summarize([round], Math.max(watch.report().rounds, (previous?.rounds ?? 0) + 1));
  // A tick does one round and exits: this round all new after a journaled round all new is two in a row.
  if (!result.propagated && rt.oneShot && watch.report().rounds === 1 && result.allNew && previous?.allNew) {
    result.propagated = true;
    result.progress = 1;
    result.stale = [];
    result.lanes = result.lanes?.map((l) => ({ ...l, propagated: l.status === "NEW" }));
    result.summary = result.summary.replace(/^\d+% propagated/, "100% propagated");
  }
  rt.say(`watch: ${result.summary}`);
  if (result.propagated) return { status: "done", result };
  const maxOldTtl = Math.max(...rt.state.originals.map((o) => o.ttl));
  const giveUpAt = rt.timeline.swapAt.getTime() + (plan.propagation.timeout ?? maxOldTtl * 1000 + plan.schedule.margin);
  if (rt.now().getTime() >= giveUpAt) {
    rt.say(
      `watch: stopped at ${formatUtc(rt.now())} with ${count(result.stale.length, "stale answer")}; those resolvers keep old data past their TTL (capping or serve-stale); the relay covers their clients`,
    );
    return { status: "done", result: { ...result, gaveUp: true } };
  }
  void step;
  return { status: "wait", until: new Date(rt.now().getTime() + interval), result };
}
