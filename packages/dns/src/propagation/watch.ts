import { mapLimit } from "../_pool.js";
import {
  checkAuthoritative,
  type AuthoritativeCheck,
  type AuthoritativeOptions,
  type ZoneAuthoritativeCheck,
} from "./authoritative.js";
import { classifyAnswer, typesFor, type AnswerStatus, type Expectation, type Observation } from "./classify.js";
import { queryDns, type QueryOptions, type QueryResult } from "./query.js";
import type { ResolverSpec } from "./servers.js";
import { normalizeName, type ServerSpec } from "@cutover/core";

/** One resolver's view of one name and type in one round (three queries: anycast sites differ). */
export interface TargetRound {
  resolver: string;
  server: string;
  group: string;
  /** Who runs the resolver and where (from the built-in set, the plan or --label). */
  operator?: string;
  location?: string;
  name: string;
  type: string;
  observations: Observation[];
  /** The round's verdict: NEW only when every answer is NEW; NEW and OLD together are MIXED. */
  status: AnswerStatus;
  /** Consecutive rounds (this one included) with status NEW; rounds with only errors leave it as it was. */
  newStreak: number;
  propagated: boolean;
  /** For a stale answer: when the cache must expire (observation + remaining TTL), ms since epoch. */
  expiresAt?: number;
  /** Only errors so far (timeouts, REFUSED): not counted in the verdict, listed as unreachable. */
  unreachable: boolean;
}

export interface GroupShare {
  group: string;
  total: number;
  newCount: number;
  propagated: number;
  /** NEW answers / targets that answered, 0..1. */
  shareNew: number;
}

export interface PropagationEstimate {
  /** The latest expiry of a stale answer seen in this round (ms since epoch), or undefined when none is stale. */
  expectedBy?: number;
  /** Authoritative completion + old TTL (or the negative TTL for names that did not exist): no cache may hold the old answer after this, unless it caps TTLs upward or serves stale. */
  bound?: number;
  /** When every authoritative server first answered NEW and in sync. */
  authoritativeCompleteAt?: number;
  /** The old TTL used for the bound, and where it came from. */
  oldTtl?: { seconds: number; source: "given" | "observed" };
  negativeTtl?: number;
}

export interface PropagationRound {
  index: number;
  startedAt: number;
  finishedAt: number;
  authoritative?: AuthoritativeCheck;
  targets: TargetRound[];
  groups: GroupShare[];
  /** Share of counted targets that are propagated, 0..1. */
  progress: number;
  /** Authoritative complete (when checked) and every reachable target propagated. */
  propagated: boolean;
  estimate: PropagationEstimate;
  queries: number;
}

export interface PropagationHistoryPoint {
  at: number;
  shares: Record<string, number>;
}

/** Everything a report needs: the latest round in full, and the share NEW per group over time. */
export interface PropagationReport {
  names: string[];
  expect: string[];
  old: string[];
  /** The types asked for, and the expected (and old) values of the types other than A/AAAA. */
  types: string[];
  records?: Expectation["records"];
  startedAt: number;
  rounds: number;
  latest?: PropagationRound;
  history: PropagationHistoryPoint[];
  propagated: boolean;
  /** With per-name expectations: each set of names and what it should now be. */
  sets?: PropagationCheckSet[];
  /** Extra source groups measured once (RIPE Atlas), added by the caller. */
  atlas?: unknown;
}

function setForReport(set: { names: string[]; expectation: Expectation; types: string[] }): PropagationCheckSet {
  const e = set.expectation;
  return {
    names: set.names,
    expect: [...e.expect],
    ...(e.old ? { old: [...e.old] } : {}),
    ...(e.records ? { records: e.records } : {}),
    types: set.types,
  };
}

/**
 * One check per set of names, read as one: a zone (and each of its servers) appears once with the answers
 * of every set, complete when every part is.
 */
function mergeAuthoritative(checks: AuthoritativeCheck[]): AuthoritativeCheck | undefined {
  if (checks.length <= 1) return checks[0];
  const zones = new Map<string, ZoneAuthoritativeCheck>();
  for (const z of checks.flatMap((c) => c.zones)) {
    const seen = zones.get(z.apex);
    if (!seen) {
      zones.set(z.apex, {
        ...z,
        names: [...z.names],
        servers: z.servers.map((s) => ({ ...s })),
        problems: [...z.problems],
      });
      continue;
    }
    seen.names = [...new Set([...seen.names, ...z.names])];
    seen.complete &&= z.complete;
    seen.problems = [...new Set([...seen.problems, ...z.problems])];
    if (z.maxSerial !== undefined) seen.maxSerial = Math.max(seen.maxSerial ?? 0, z.maxSerial);
    for (const s of z.servers) {
      const same = seen.servers.find((x) => x.address === s.address && x.ns === s.ns);
      if (!same) {
        seen.servers.push({ ...s });
        continue;
      }
      same.answers = [...same.answers, ...s.answers];
      same.ok &&= s.ok;
      same.problems = [...new Set([...same.problems, ...s.problems])];
    }
  }
  return {
    at: Math.max(...checks.map((c) => c.at)),
    zones: [...zones.values()],
    complete: checks.every((c) => c.complete),
    problems: [...new Set(checks.flatMap((c) => c.problems))],
  };
}

/** Names that share one expectation: what a move changes differs per name (an SPF text, a sibling address). */
export interface PropagationCheckSet {
  names: readonly string[];
  expect: readonly string[];
  old?: readonly string[];
  records?: Expectation["records"];
  types?: readonly string[];
}

export interface PropagationWatchOptions {
  names: readonly string[];
  expect: readonly string[];
  old?: readonly string[];
  /** Expected (and old) values of other types: MX, TXT, CNAME, NS (see `Expectation.records`). */
  records?: Expectation["records"];
  /** The types to ask for (default: those with expected values). */
  types?: readonly string[];
  /**
   * More names, each set with its own expectation, watched in the same rounds (one verdict, one bound).
   * `names`/`expect` may then be empty.
   */
  sets?: readonly PropagationCheckSet[];
  resolvers: readonly ResolverSpec[];
  /** Check every authoritative server each round (`false` skips it). */
  authoritative?: Omit<AuthoritativeOptions, "names" | "expectation" | "now"> | false;
  /** Queries per resolver, name and type per round. Default 3. */
  queriesPerResolver?: number;
  /** Queries in flight at once. Default 64. */
  concurrency?: number;
  query?: QueryOptions;
  /** The low TTL in force (seconds); sets the interval min(30 s, lowTtl/2). Default: the NEW answers' TTL. */
  lowTtl?: number;
  /** The TTL the old records had (seconds), for the bound. Default: the largest remaining TTL seen on an OLD answer. */
  oldTtl?: number;
  /** When the change was made, if the authoritative servers are not checked. */
  changedAt?: number;
  /** Fixed interval (ms), instead of min(30 s, lowTtl/2). */
  intervalMs?: number;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Sends one query (tests inject failures; default queryDns). */
  send?: (server: ServerSpec, name: string, type: string, options: QueryOptions) => Promise<QueryResult>;
}

export interface PropagationWatch {
  /** Runs one round now and returns it. */
  round(): Promise<PropagationRound>;
  /** The wait before the next round: min(30 s, lowTtl/2) with ±10% jitter. */
  nextInterval(): number;
  /** Rounds until propagated, the timeout, or the signal; `watch: false` stops after a confirming second round. */
  run(options?: {
    timeoutMs?: number;
    signal?: AbortSignal;
    watch?: boolean;
    onRound?: (r: PropagationRound) => void | Promise<void>;
  }): Promise<PropagationReport>;
  report(): PropagationReport;
}

const SEVERITY: AnswerStatus[] = ["UNEXPECTED", "MIXED", "OLD", "NEGATIVE", "ERROR"];

/** The verdict of several answers from one resolver: NEW only if all are NEW; NEW with OLD is MIXED. */
export function summarizeObservations(observations: readonly Observation[]): AnswerStatus {
  const answered = observations.filter((o) => o.status !== "ERROR").map((o) => o.status);
  if (answered.length === 0) return "ERROR";
  if (answered.every((s) => s === "NEW")) return "NEW";
  if (answered.includes("NEW") && answered.some((s) => s === "OLD" || s === "MIXED")) return "MIXED";
  return SEVERITY.find((s) => answered.includes(s)) ?? "ERROR";
}

/**
 * Watches a DNS change spread: each round asks every resolver (three times, for anycast) and every
 * authoritative server, classifies the answers, and keeps per-target streaks. A target is propagated
 * after two consecutive all-NEW rounds. Rounds come back as data; nothing is printed.
 */
export function createPropagationWatch(options: PropagationWatchOptions): PropagationWatch {
  const now = options.now ?? Date.now;
  const sleep =
    options.sleep ??
    ((ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        signal?.addEventListener(
          "abort",
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      }));
  const random = options.random ?? Math.random;
  const send = options.send ?? queryDns;
  const sets = [options, ...(options.sets ?? [])]
    .filter((set) => set.names.length > 0)
    .map((set) => {
      const expectation: Expectation = {
        expect: [...set.expect],
        ...(set.old ? { old: [...set.old] } : {}),
        ...(set.records ? { records: set.records } : {}),
        ...(set.types ? { types: set.types } : {}),
      };
      return { names: set.names.map(normalizeName), expectation, types: typesFor(expectation) };
    });
  const names = [...new Set(sets.flatMap((set) => set.names))];
  const types = [...new Set(sets.flatMap((set) => set.types))];
  const perResolver = options.queriesPerResolver ?? 3;
  const streaks = new Map<string, number>();
  const everAnswered = new Set<string>();
  const staleUntil = new Map<string, number>();
  const history: PropagationHistoryPoint[] = [];
  const startedAt = now();
  let latest: PropagationRound | undefined;
  let index = 0;
  let authCompleteAt: number | undefined = options.changedAt;
  let observedOldTtl = 0;
  let negativeTtl: number | undefined;
  let sawNegative = false;
  let lowTtl = options.lowTtl;

  const round = async (): Promise<PropagationRound> => {
    const roundStart = now();
    const auth = options.authoritative;
    const authPromise =
      auth === false || auth === undefined
        ? Promise.resolve(undefined)
        : Promise.all(
            sets.map((set) => checkAuthoritative({ ...auth, names: set.names, expectation: set.expectation, now })),
          ).then(mergeAuthoritative);
    const jobs: Array<{ r: ResolverSpec; name: string; type: string; expectation: Expectation }> = [];
    for (const r of options.resolvers)
      for (const set of sets)
        for (const name of set.names)
          for (const type of set.types)
            for (let k = 0; k < perResolver; k++) jobs.push({ r, name, type, expectation: set.expectation });
    // Awaited together: a zone that cannot be found rejects at once (and never unobserved, which
    // crashed the process with a raw stack while the resolver queries were still out).
    const [results, authoritative] = await Promise.all([
      mapLimit(jobs, options.concurrency ?? 64, async (j) => {
        const res = await send(j.r.server, j.name, j.type, { timeoutMs: 2000, retries: 1, ...options.query, rd: true });
        return classifyAnswer(res, j.expectation, now());
      }),
      authPromise,
    ]);
    const targets: TargetRound[] = [];
    for (let i = 0; i < jobs.length; i += perResolver) {
      const j = jobs[i]!;
      const observations = results.slice(i, i + perResolver);
      const key = `${j.r.group}|${j.r.server.label}|${j.name}|${j.type}`;
      const status = summarizeObservations(observations);
      if (status !== "ERROR") everAnswered.add(key);
      let streak = streaks.get(key) ?? 0;
      if (status === "NEW") streak++;
      else if (status !== "ERROR") streak = 0;
      streaks.set(key, streak);
      const t: TargetRound = {
        resolver: j.r.name,
        server: j.r.server.label,
        group: j.r.group,
        ...(j.r.operator ? { operator: j.r.operator } : {}),
        ...(j.r.location ? { location: j.r.location } : {}),
        name: j.name,
        type: j.type,
        observations,
        status,
        newStreak: streak,
        propagated: streak >= 2,
        unreachable: !everAnswered.has(key),
      };
      let expires: number | undefined;
      for (const o of observations) {
        if ((o.status === "OLD" || o.status === "MIXED" || o.status === "UNEXPECTED") && o.ttl !== undefined) {
          expires = Math.max(expires ?? 0, o.at + o.ttl * 1000);
          observedOldTtl = Math.max(observedOldTtl, o.ttl);
        }
        if (o.status === "NEGATIVE" && o.negativeTtl !== undefined) {
          expires = Math.max(expires ?? 0, o.at + o.negativeTtl * 1000);
          sawNegative = true;
          negativeTtl = Math.max(negativeTtl ?? 0, o.negativeTtl);
        }
        if (o.status === "NEW" && o.ttl !== undefined && options.lowTtl === undefined)
          lowTtl = Math.max(lowTtl ?? 0, o.ttl);
      }
      // Each stale answer gives a lower bound of its cache's expiry (remaining TTLs are whole seconds);
      // the latest of them within one stale stretch is the closest.
      if (expires !== undefined && !t.propagated) {
        const prev = staleUntil.get(key);
        t.expiresAt = prev !== undefined && prev > roundStart ? Math.max(prev, expires) : expires;
        staleUntil.set(key, t.expiresAt);
      } else staleUntil.delete(key);
      targets.push(t);
    }
    if (authoritative) {
      for (const z of authoritative.zones)
        for (const s of z.servers)
          for (const a of s.answers) {
            const o = a.observation;
            if (o.status === "NEW" && o.ttl !== undefined && options.lowTtl === undefined)
              lowTtl = Math.max(lowTtl ?? 0, o.ttl);
            if (o.status === "OLD" && o.ttl !== undefined) observedOldTtl = Math.max(observedOldTtl, o.ttl);
            if (o.status === "NEGATIVE") {
              sawNegative = true;
              if (o.negativeTtl !== undefined) negativeTtl = Math.max(negativeTtl ?? 0, o.negativeTtl);
            }
          }
      if (authoritative.complete) authCompleteAt ??= authoritative.at;
      else if (options.changedAt === undefined) authCompleteAt = undefined;
    }
    const groupNames = [...new Set(targets.map((t) => t.group))];
    const groups: GroupShare[] = groupNames.map((g) => {
      const inGroup = targets.filter((t) => t.group === g && !t.unreachable);
      const newCount = inGroup.filter((t) => t.status === "NEW").length;
      return {
        group: g,
        total: inGroup.length,
        newCount,
        propagated: inGroup.filter((t) => t.propagated).length,
        shareNew: inGroup.length ? newCount / inGroup.length : 0,
      };
    });
    const counted = targets.filter((t) => !t.unreachable);
    const progress = counted.length
      ? counted.filter((t) => t.propagated).length / counted.length
      : authoritative?.complete
        ? 1
        : 0;
    const resolversDone = counted.every((t) => t.propagated);
    const propagated =
      resolversDone &&
      (authoritative ? authoritative.complete : true) &&
      (counted.length > 0 || authoritative !== undefined);
    const estimate: PropagationEstimate = {};
    const stale = targets.map((t) => t.expiresAt).filter((x): x is number => x !== undefined);
    if (stale.length) estimate.expectedBy = Math.max(...stale);
    if (authCompleteAt !== undefined) estimate.authoritativeCompleteAt = authCompleteAt;
    const oldTtl =
      options.oldTtl !== undefined
        ? { seconds: options.oldTtl, source: "given" as const }
        : observedOldTtl > 0
          ? { seconds: observedOldTtl, source: "observed" as const }
          : undefined;
    if (oldTtl) estimate.oldTtl = oldTtl;
    if (negativeTtl !== undefined) estimate.negativeTtl = negativeTtl;
    if (authCompleteAt !== undefined) {
      const hold = Math.max(oldTtl?.seconds ?? 0, sawNegative ? (negativeTtl ?? 0) : 0);
      estimate.bound = authCompleteAt + hold * 1000;
    }
    const authShare: Record<string, number> = {};
    if (authoritative) {
      const servers = authoritative.zones.flatMap((z) => z.servers);
      authShare.authoritative = servers.length ? servers.filter((s) => s.ok).length / servers.length : 0;
    }
    const r: PropagationRound = {
      index: index++,
      startedAt: roundStart,
      finishedAt: now(),
      targets,
      groups,
      progress,
      propagated,
      estimate,
      queries: jobs.length,
    };
    if (authoritative) r.authoritative = authoritative;
    history.push({
      at: roundStart,
      shares: { ...authShare, ...Object.fromEntries(groups.map((g) => [g.group, g.shareNew])) },
    });
    latest = r;
    return r;
  };

  const nextInterval = () => {
    const base = options.intervalMs ?? Math.min(30_000, ((lowTtl ?? 60) * 1000) / 2);
    return Math.max(200, Math.round(base * (0.9 + 0.2 * random())));
  };

  const report = (): PropagationReport => {
    const r: PropagationReport = {
      names,
      expect: [...options.expect],
      old: [...(options.old ?? [])],
      types: [...types],
      ...(options.records ? { records: options.records } : {}),
      ...(options.sets?.length ? { sets: sets.map(setForReport) } : {}),
      startedAt,
      rounds: index,
      history,
      propagated: latest?.propagated ?? false,
    };
    if (latest) r.latest = latest;
    return r;
  };

  return {
    round,
    nextInterval,
    report,
    async run(runOptions = {}) {
      const deadline = runOptions.timeoutMs !== undefined ? now() + runOptions.timeoutMs : undefined;
      const watch = runOptions.watch ?? true;
      for (;;) {
        const r = await round();
        await runOptions.onRound?.(r);
        if (r.propagated || runOptions.signal?.aborted) break;
        // One-shot: a second round confirms an all-NEW first round (two consecutive rounds are required).
        const couldConfirm =
          r.targets.every((t) => t.status === "NEW" || t.unreachable) && (!r.authoritative || r.authoritative.complete);
        if (!watch && (index >= 2 || !couldConfirm)) break;
        let wait = watch ? nextInterval() : Math.min(nextInterval(), 2000);
        if (deadline !== undefined) {
          const left = deadline - now();
          if (left <= 0) break;
          wait = Math.min(wait, left);
        }
        await sleep(wait, runOptions.signal);
        if (runOptions.signal?.aborted) break;
        if (deadline !== undefined && now() >= deadline) {
          // One last round at the deadline, so the verdict is as fresh as the wait allowed.
          const last = await round();
          await runOptions.onRound?.(last);
          break;
        }
      }
      return report();
    },
  };
}
