import { Option } from "@commander-js/extra-typings";
import { writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { resolve } from "node:path";
import {
  CHECKED_TYPES,
  checkExpectedValue,
  createPropagationWatch,
  isCheckedType,
  parseResolverLabel,
  parseResolverList,
  renderPropagationHtml,
  classifyAtlasResults,
  createAtlasClient,
  summarizeAtlas,
  typesFor,
  type AtlasProbeAnswer,
  type PropagationReport,
  type ReportAtlasSection,
  type PropagationRound,
  type ResolverLabel,
  type ResolverSpec,
} from "@cutover/dns";
import type { Deps } from "../../context.js";
import { ExitCode, UserError, isUserFacing } from "../../errors.js";
import { checkOutputPath } from "../../output/path.js";
import { createReporter } from "../../output/reporter.js";
import { loadPlan } from "../../plan/load.js";
import { StateStore, stateDirFor } from "../../state/store.js";
import { readPlanRecords } from "../../timeline/records.js";
import { moveCheckSets, planWatchOptions } from "../../timeline/watch.js";
import { plainRound, renderRound } from "./_render.js";
import { defineCommand } from "../_define.js";
import { type DnsRecord, parseServerSpec, parseDuration, discoverTargets, sameIp } from "@cutover/core";

function addressList(flag: string, text: string | undefined): string[] {
  if (text === undefined) return [];
  const list = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const a of list) if (isIP(a) === 0) throw new UserError(`${flag} ${a}: not an IP address`, { exitCode: 2 });
  if (list.length === 0) throw new UserError(`${flag} needs at least one address`, { exitCode: 2 });
  return list;
}

/** What `--expect`/`--old` said: addresses (A/AAAA), and values per other type. */
interface Expected {
  addresses: string[];
  records: Record<string, string[]>;
}

/**
 * Parses repeated `--expect`/`--old` values: `IP[,IP]` (A/AAAA), or `TYPE=VALUE`: MX, NS and CNAME take
 * comma-separated values, TXT one whole text per flag (SPF texts hold no commas, but others may).
 */
function expectedValues(flag: string, items: readonly string[] | undefined): Expected {
  const out: Expected = { addresses: [], records: {} };
  for (const item of items ?? []) {
    const m = /^([A-Za-z]+)=(.*)$/s.exec(item);
    if (!m) {
      out.addresses.push(...addressList(flag, item));
      continue;
    }
    const type = m[1]!.toUpperCase();
    if (!isCheckedType(type))
      throw new UserError(`${flag} ${item}: ${type} is not a type propagation checks (${CHECKED_TYPES.join(", ")})`, {
        exitCode: 2,
      });
    const values =
      type === "TXT"
        ? [m[2]!]
        : m[2]!
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
    if (values.length === 0) throw new UserError(`${flag} ${item}: give a value after ${type}=`, { exitCode: 2 });
    for (const v of values) {
      try {
        checkExpectedValue(type, v);
      } catch (error) {
        throw new UserError(`${flag} ${(error as Error).message}`, { exitCode: 2 });
      }
    }
    if (type === "A" || type === "AAAA") out.addresses.push(...values);
    else out.records[type] = [...(out.records[type] ?? []), ...values];
  }
  return out;
}

/** `--type A,MX`: known types, each with something to compare against. */
function typeList(text: string | undefined, expected: Expected): string[] | undefined {
  if (text === undefined) return undefined;
  const types = [
    ...new Set(
      text
        .split(",")
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean),
    ),
  ];
  if (types.length === 0) throw new UserError("--type needs at least one type", { exitCode: 2 });
  for (const t of types) {
    if (!isCheckedType(t)) throw new UserError(`--type ${t}: give ${CHECKED_TYPES.join(", ")}`, { exitCode: 2 });
    // An address family without an expected address is fine (NODATA is then the new answer); other types
    // need to know what is new.
    if ((t === "A" || t === "AAAA") && expected.addresses.length > 0) continue;
    if (!expected.records[t]?.length)
      throw new UserError(`--type ${t}: say what ${t} should be, e.g. --expect ${EXAMPLE[t]}`, { exitCode: 2 });
  }
  return types;
}

const EXAMPLE: Record<string, string> = {
  A: "203.0.113.20",
  AAAA: "2001:db8::20",
  MX: '"MX=10 mail.example.net"',
  TXT: '"TXT=v=spf1 ip4:203.0.113.20 -all"',
  CNAME: "CNAME=web.example.net",
  NS: "NS=ns1.example.net,ns2.example.net",
};

/** `--label SERVER=OPERATOR@LOCATION`, repeatable. */
function labelList(items: readonly string[] | undefined): Record<string, ResolverLabel> {
  const out: Record<string, ResolverLabel> = {};
  for (const item of items ?? []) {
    const m = /^([^=]+)=(.*)$/.exec(item);
    if (!m) throw new UserError(`--label ${item}: write SERVER=OPERATOR@LOCATION`, { exitCode: 2 });
    try {
      parseServerSpec(m[1]!);
      out[m[1]!.trim()] = parseResolverLabel(m[2]!);
    } catch (error) {
      throw new UserError(`--label ${item}: ${(error as Error).message}`, { exitCode: 2 });
    }
  }
  return out;
}

function durationOption(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new UserError(`${flag} ${text}: not a duration (examples: 90s, 10m, 1h30m)`, { exitCode: 2 });
  return ms;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function makePropagationCommand(deps: Deps) {
  return defineCommand(
    {
      name: "propagation",
      description: "Show where a DNS change has reached: every authoritative server, public resolvers, RIPE Atlas",
      needs: "nothing",
      json: "JSON: the final report; with --watch one JSON object per round, one per line",
      examples: [
        ["cutover propagation --plan colo-to-linode.yaml"],
        ["cutover propagation --plan colo-to-linode.yaml --type A --watch --timeout 2h"],
        ["cutover propagation example.com www.example.com --expect 203.0.113.20 --old 198.51.100.10"],
        [
          'cutover propagation example.com --type MX,TXT --expect "MX=10 mail.example.net" --expect "TXT=v=spf1 ip4:203.0.113.20 -all"',
        ],
        [
          "cutover propagation www.example.com --expect CNAME=web.example.net --resolvers 10.0.0.53 --label 10.0.0.53=Office@Berlin",
        ],
        ["cutover propagation example.com --expect 203.0.113.20,2001:db8::20 --watch --timeout 2h --report prop.html"],
        ["cutover propagation www.example.test --expect 203.0.113.20 --resolvers 127.0.0.1:5353 --no-authoritative"],
        ["cutover propagation example.com --expect 203.0.113.20 --resolvers https://dns.google/dns-query,9.9.9.9"],
        ["cutover propagation example.com --expect 203.0.113.20 --watch --json | jq -c '{round: .index, progress}'"],
      ],
      notes: `With no names, the plan (--plan, or cutover.yaml) says what to check: every name the move changes with the
address it gets, each SPF record with its new text, the plan's resolvers and authoritative servers; once
a run has started, from its journal (no DNS token needed).`,
      exitCodes: {
        0: "propagated",
        1: "not yet (the timeout passed, or a one-shot check found stale answers)",
        2: "an error: bad usage, a problem in the plan, nothing to check",
      },
    },
    (c) =>
      c
        .argument("[names...]", "names to check, e.g. example.com www.example.com (none: what the plan moves)")
        .option("--plan <file>", "check what this plan moves, name by name (the default with no names: cutover.yaml)")
        .option("--state <dir>", "with a plan: its state directory (default: .cutover/NAME beside the plan)")
        .option(
          "--expect <value>",
          "what is new: address(es), comma-separated, or TYPE=VALUE (MX=10 mail.example.net, TXT=v=spf1 ..., CNAME=host, NS=ns1,ns2); repeatable",
          collect,
        )
        .option(
          "--old <value>",
          "what was there before, as --expect; without it any other answer counts as OLD",
          collect,
        )
        .option("--type <types>", "the types to ask for: A,AAAA,MX,TXT,CNAME,NS (default: those --expect names)")
        .option(
          "--resolvers <list>",
          "default (the public set), or IPs, IP:PORT, [v6]:PORT, https:// DoH URLs, comma-separated",
          "default",
        )
        .option(
          "--label <server=who@where>",
          "who runs a resolver and where, e.g. 10.0.0.53=Office@Berlin (repeatable)",
          collect,
        )
        .option("--watch", "repeat rounds until propagated (or --timeout)")
        .option("--timeout <duration>", "with --watch: give up after this long (exit 1)")
        .option("--interval <duration>", "time between rounds (default min(30s, low TTL / 2), with jitter)")
        .option("--old-ttl <seconds>", "the TTL the old records had, for the bound (default: the largest seen)")
        .option("--queries <n>", "queries per resolver per name and type in a round", "3")
        .option("--no-authoritative", "skip the authoritative servers")
        .option(
          "--bootstrap <server>",
          "resolver used to find the zone and its NS addresses (default: /etc/resolv.conf)",
        )
        .option(
          "--ns <name=addrs>",
          "use these addresses for an NS name (repeatable), e.g. ns1.example.com=127.0.0.1:5301",
          collect,
        )
        .option(
          "--parent <servers>",
          "servers of the parent zone to ask for the delegation (default: found via --bootstrap)",
        )
        .option("--apex <zone>", "the zone apex, when it cannot be found by asking")
        .addOption(
          new Option("--atlas <probes>", "also measure from N RIPE Atlas probes' own resolvers (key: RIPE_ATLAS_KEY)"),
        )
        .option("--atlas-country <cc>", "with --atlas: probes from these countries (comma-separated ISO codes)")
        .option("--atlas-wait <duration>", "with --atlas: how long to wait for the probes' results", "5m")
        .option("--report <file>", "write a self-contained HTML report (chart and tables)"),
  ).action(async (names, opts, cmd) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    try {
      const resolversGiven = cmd.getOptionValueSource("resolvers") === "cli";
      await runPropagationCommand(deps, out, names, { ...opts, resolversGiven });
    } catch (error) {
      if (error instanceof ExitCode) throw error;
      // Here 1 means "not yet propagated": every error is 2 (a plan that cannot be read, a missing token).
      if (error instanceof UserError)
        throw error.exitCode === 1
          ? new UserError(error.message, { code: error.code, details: error.details, exitCode: 2, cause: error })
          : error;
      if (isUserFacing(error)) throw new UserError(error.message, { exitCode: 2, cause: error });
      throw error;
    }
  });
}

interface Opts {
  plan?: string;
  state?: string;
  resolversGiven: boolean;
  expect?: string[];
  old?: string[];
  type?: string;
  label?: string[];
  resolvers: string;
  watch?: true;
  timeout?: string;
  interval?: string;
  oldTtl?: string;
  queries: string;
  authoritative: boolean;
  bootstrap?: string;
  ns?: string[];
  parent?: string;
  apex?: string;
  atlas?: string;
  atlasCountry?: string;
  atlasWait?: string;
  report?: string;
  json?: true;
}

async function runPropagationCommand(
  deps: Deps,
  out: ReturnType<typeof createReporter>,
  names: string[],
  opts: Opts,
): Promise<void> {
  if (names.length > 0 && opts.plan !== undefined)
    throw new UserError("give names with --expect, or --plan, not both", { exitCode: 2 });
  if (names.length === 0 && (opts.expect !== undefined || opts.old !== undefined))
    throw new UserError("--expect and --old go with names to check; with a plan, the plan says what is new", {
      exitCode: 2,
      details: ["e.g. cutover propagation www.example.com --expect 203.0.113.20, or cutover propagation --plan FILE"],
    });
  if (names.length > 0 && opts.expect === undefined)
    throw new UserError("say what is new with --expect, e.g. --expect 203.0.113.20", { exitCode: 2 });
  const fromPlan = names.length === 0 ? await planChecks(deps, out, opts) : undefined;
  const expected = expectedValues("--expect", opts.expect);
  const before = opts.old === undefined ? undefined : expectedValues("--old", opts.old);
  const expect = expected.addresses;
  const old =
    before && (before.addresses.length > 0 || Object.keys(before.records).length === 0) ? before.addresses : undefined;
  const records: Record<string, { expect: string[]; old?: string[] }> = {};
  for (const [type, values] of Object.entries(expected.records))
    records[type] = { expect: values, ...(before?.records[type] ? { old: before.records[type] } : {}) };
  for (const type of Object.keys(before?.records ?? {}))
    if (!records[type])
      throw new UserError(`--old ${type}=...: say what ${type} should be now too (--expect ${EXAMPLE[type]})`, {
        exitCode: 2,
      });
  const types = fromPlan ? undefined : typeList(opts.type, expected);
  const resolvers: ResolverSpec[] = parseResolverList(
    fromPlan && !opts.resolversGiven ? fromPlan.resolvers : opts.resolvers,
    "public",
    labelList(opts.label),
  );
  const timeoutMs = durationOption("--timeout", opts.timeout);
  const intervalMs = durationOption("--interval", opts.interval);
  const queries = Number(opts.queries);
  if (!Number.isInteger(queries) || queries < 1 || queries > 10)
    throw new UserError(`--queries ${opts.queries}: give 1 to 10`, { exitCode: 2 });
  let oldTtl: number | undefined;
  if (opts.oldTtl !== undefined) {
    oldTtl = Number(opts.oldTtl);
    if (!Number.isInteger(oldTtl) || oldTtl < 0)
      throw new UserError(`--old-ttl ${opts.oldTtl}: give whole seconds`, { exitCode: 2 });
  }
  const nsAddresses: Record<string, string[]> = {};
  for (const item of opts.ns ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(item);
    if (!m) throw new UserError(`--ns ${item}: write NAME=ADDR[,ADDR]`, { exitCode: 2 });
    const addrs = m[2]!.split(",").map((s) => s.trim());
    for (const a of addrs) parseServerSpec(a);
    nsAddresses[m[1]!.toLowerCase().replace(/\.$/, "")] = addrs;
  }
  // The plan may say not to ask the authoritative servers (e.g. they only answer from inside); --no-authoritative always does.
  const authoritative =
    opts.authoritative && fromPlan?.authoritative !== false
      ? {
          ...fromPlan?.authoritative,
          ...(opts.bootstrap ? { bootstrap: parseServerSpec(opts.bootstrap) } : {}),
          ...(opts.parent ? { parent: opts.parent.split(",").map((s) => parseServerSpec(s)) } : {}),
          ...(Object.keys(nsAddresses).length ? { nsAddresses } : {}),
          ...(opts.apex ? { apex: opts.apex } : {}),
        }
      : (false as const);
  if (opts.report) await checkOutputPath("--report", resolve(deps.cwd, opts.report));
  // Last, after every option is checked: creating measurements spends the user's Atlas credits.
  const atlasOf = fromPlan ? fromPlan.atlas : { names, expect, old };
  if (opts.atlas !== undefined && atlasOf.expect.length === 0)
    throw new UserError("--atlas measures addresses (A/AAAA): give the new address with --expect", { exitCode: 2 });
  const atlas =
    opts.atlas === undefined ? undefined : await startAtlas(deps, atlasOf.names, atlasOf.expect, atlasOf.old, opts);
  const now = () => deps.now().getTime();
  const live = out.tty && !out.json;
  // On a terminal: one view redrawn in place (lines cut to the width), what else is said printed above it.
  const view = live ? (await import("../../output/live.js")).createLiveView(deps.stdout) : undefined;
  out.useLiveView(view);
  let current: PropagationRound | undefined;
  const draw = () => {
    if (current) view?.render(renderRound(out, current, now(), deps.stdout.columns ?? 100));
  };
  // On a terminal the view redraws every second while waiting, so remaining TTLs count down.
  const sleep = async (ms: number, signal?: AbortSignal) => {
    if (!live) return deps.sleep(ms, signal);
    const end = now() + ms;
    while (now() < end && !signal?.aborted) {
      await deps.sleep(Math.min(1000, end - now()), signal);
      draw();
    }
  };
  const watch = createPropagationWatch({
    names,
    expect,
    ...(old ? { old } : {}),
    ...(Object.keys(records).length ? { records } : {}),
    ...(types ? { types } : {}),
    ...(fromPlan ? { sets: fromPlan.sets, lowTtl: fromPlan.lowTtl } : {}),
    ...(fromPlan?.changedAt !== undefined ? { changedAt: fromPlan.changedAt } : {}),
    resolvers,
    authoritative,
    queriesPerResolver: queries,
    ...(intervalMs !== undefined ? { intervalMs } : {}),
    ...((oldTtl ?? fromPlan?.oldTtl) !== undefined ? { oldTtl: oldTtl ?? fromPlan?.oldTtl } : {}),
    now,
    sleep,
  });
  const writeReport = async (report: PropagationReport, atlasSection?: ReportAtlasSection) => {
    if (!opts.report) return;
    await writeFile(
      resolve(deps.cwd, opts.report),
      renderPropagationHtml(report, atlasSection ? { atlas: atlasSection } : {}),
    );
  };
  const report = await watch
    .run({
      watch: opts.watch === true,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      onRound: async (r) => {
        // No resolver answered at all and there is no authoritative check: that is not "not yet", it is an
        // error (wrong addresses, a firewall, no network), and waiting for a timeout would not change it.
        if (r.index === 0 && !r.authoritative && r.targets.length > 0 && r.targets.every((t) => t.unreachable)) {
          const servers = [...new Set(r.targets.map((t) => t.server))];
          const why = [...new Set(r.targets.map((t) => `${t.server}: ${t.observations[0]?.error ?? "no answer"}`))];
          throw new UserError(`no resolver answered: ${why.slice(0, 3).join("; ")}${why.length > 3 ? "; ..." : ""}`, {
            exitCode: 2,
            code: "E_NO_ANSWER",
            details: [
              `check --resolvers (${servers.length} asked) and that this machine reaches them on port 53 (UDP and TCP) or 443 (DoH)`,
            ],
          });
        }
        current = r;
        if (out.json) {
          if (opts.watch) out.write(`${JSON.stringify(r)}\n`);
        } else if (live) draw();
        else for (const l of plainRound(r)) out.line(l);
        if (opts.watch) await writeReport(watch.report());
      },
    })
    .finally(() => {
      // The last view stays on the screen; what follows is printed below it.
      view?.done();
      out.useLiveView(undefined);
    });
  let atlasSection: ReportAtlasSection | undefined;
  if (atlas) {
    const done = await atlas.finish();
    atlasSection = done.section;
    report.atlas = done.section;
    const at = now();
    report.history.push({
      at,
      shares: Object.fromEntries(
        done.section.countries.map((c) => [`atlas:${c.country}`, c.probes ? c.newCount / c.probes : 0]),
      ),
    });
    if (out.json && opts.watch) out.write(`${JSON.stringify({ atlas: done.section })}\n`);
    else if (!out.json) {
      out.line(`RIPE Atlas (${done.section.probes} probes, their own resolvers; measurements ${done.ids.join(", ")}):`);
      for (const c of done.section.countries)
        out.line(`  ${c.country}  ${c.newCount}/${c.probes} NEW, ${c.old} OLD, ${c.other} other`);
    }
  }
  await writeReport(report, atlasSection);
  if (out.json && !opts.watch) out.data(report);
  if (!out.json) {
    out.line(report.propagated ? out.c.green("propagated") : out.c.yellow("not yet propagated"));
    if (opts.report) out.line(`report: ${opts.report}`);
  }
  if (!report.propagated) throw new ExitCode(1);
}

/**
 * What a plan moves, as check sets (the watch step's own: `moveCheckSets`), narrowed by `--type`. Once a
 * run has started its journal's originals say what moved (the provider then serves the new records, and
 * no token is needed); before, the provider's records do, as `cutover plan` reads them. Names already on
 * the new address (changed by hand with `cutover dns swap`) are checked too.
 */
async function planChecks(deps: Deps, out: ReturnType<typeof createReporter>, opts: Opts) {
  const loaded = await loadPlan(opts.plan, { cwd: deps.cwd, now: deps.now(), allowPastSwap: true }).catch(
    (error: unknown) => {
      // Without names, a missing cutover.yaml may only mean the user meant to name what to check.
      if (opts.plan === undefined && error instanceof UserError && error.code === "E_PLAN_READ")
        throw new UserError(error.message, {
          code: error.code,
          exitCode: 2,
          details: ["or name what to check: cutover propagation www.example.com --expect 203.0.113.20"],
        });
      throw error;
    },
  );
  const { plan } = loaded;
  const store = new StateStore(stateDirFor(loaded.path, plan.name, opts.state, deps.cwd));
  const { state } = await store.load({ repair: false });
  const names = plan.dns.records === "auto" ? undefined : plan.dns.records;
  const addresses = { old: plan.old, new: plan.new };
  let records: DnsRecord[];
  let source: string;
  if (state) {
    records = state.originals;
    source = `the journal of ${plan.name}`;
  } else {
    const read = await readPlanRecords(loaded, deps.env);
    const zones = new Set(plan.dns.zones);
    records = read.records.filter((r) => zones.has(r.zone));
    source = `${read.providerName} (no run has started)`;
    // Already swapped by hand: the records on the new address are what moved.
    const moved = discoverTargets(records, { old: plan.new, new: plan.new }).targets;
    records = [...records, ...moved.map((r) => ({ ...r, content: oldAddressFor(r, plan) ?? r.content }))];
  }
  const discovery = discoverTargets(records, addresses);
  const targets = discovery.targets.filter((t) => !names || names.includes(t.name));
  if (targets.length === 0)
    throw new UserError(`${loaded.file}: nothing to check: no record in ${source} points at the old or the new host`, {
      exitCode: 2,
      code: "E_NOTHING_TO_CHECK",
      details: ["give names to check with --expect instead, e.g. cutover propagation www.example.com --expect IP"],
    });
  // The other members of a moving RRset stay beside the new address (not the moved ones found by hand).
  const newAddrs = [plan.new.ipv4, plan.new.ipv6].filter((a): a is string => a !== undefined);
  const siblings = discovery.siblings.filter(
    (s) => targets.some((t) => t.name === s.name && t.type === s.type) && !newAddrs.some((a) => sameIp(a, s.content)),
  );
  let sets = moveCheckSets(plan, targets, discovery.spf, siblings);
  if (opts.type !== undefined) {
    const wanted = [
      ...new Set(
        opts.type
          .split(",")
          .map((t) => t.trim().toUpperCase())
          .filter(Boolean),
      ),
    ];
    const moved = [...new Set(sets.flatMap((s) => s.types ?? []))];
    for (const t of wanted)
      if (!moved.includes(t))
        throw new UserError(`--type ${t}: the plan changes no ${t} record (it changes ${moved.join(", ")})`, {
          exitCode: 2,
        });
    sets = sets
      .map((s) => ({ ...s, types: (s.types ?? []).filter((t) => wanted.includes(t)) }))
      .filter((s) => s.types.length > 0);
  }
  const options = planWatchOptions(plan, Math.max(...records.map((r) => r.ttl)));
  out.line(
    `checking what ${plan.name} moves (from ${source}): ${sets.map((s) => `${s.names.join(", ")} ${(s.types ?? []).join("/")}`).join("; ")}`,
  );
  const swapDone = state?.steps.swap?.status === "done";
  const addressSets = sets.filter((s) => s.expect.length > 0);
  return {
    sets,
    resolvers: plan.propagation.resolvers,
    authoritative: options.authoritative,
    lowTtl: plan.dns.lowTtl,
    oldTtl: Math.max(...targets.map((t) => t.ttl)),
    ...(swapDone && state?.steps.swap?.doneAt ? { changedAt: Date.parse(state.steps.swap.doneAt) } : {}),
    atlas: {
      names: [...new Set(addressSets.flatMap((s) => s.names))],
      expect: [...new Set(addressSets.flatMap((s) => s.expect))],
      old: [...new Set(addressSets.flatMap((s) => s.old ?? []))],
    },
  };
}

/** The old address of the record's family, for a record already moved by hand. */
function oldAddressFor(r: DnsRecord, plan: { old: { ipv4?: string; ipv6?: string } }): string | undefined {
  return r.type === "A" ? plan.old.ipv4 : r.type === "AAAA" ? plan.old.ipv6 : undefined;
}

/**
 * Starts one RIPE Atlas measurement per name and type (each probe's own resolver); `finish` waits until
 * they stop (at most --atlas-wait, default 5m) and classifies every probe's answer.
 */
async function startAtlas(deps: Deps, names: string[], expect: string[], old: string[] | undefined, opts: Opts) {
  const key = deps.env.RIPE_ATLAS_KEY;
  if (!key)
    throw new UserError("--atlas needs an API key in RIPE_ATLAS_KEY (one that may create measurements)", {
      exitCode: 2,
    });
  const probes = Number(opts.atlas);
  if (!Number.isInteger(probes) || probes < 1 || probes > 1000)
    throw new UserError(`--atlas ${opts.atlas}: give 1 to 1000 probes`, { exitCode: 2 });
  const countries = opts.atlasCountry
    ?.split(",")
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean);
  for (const c of countries ?? [])
    if (!/^[A-Z]{2}$/.test(c)) throw new UserError(`--atlas-country ${c}: give two-letter ISO codes`, { exitCode: 2 });
  const waitMs = durationOption("--atlas-wait", opts.atlasWait) ?? 300_000;
  const client = createAtlasClient({ key });
  const expectation = { expect, ...(old ? { old } : {}) };
  const jobs: Array<{ id: number; name: string; type: "A" | "AAAA" }> = [];
  for (const name of names)
    for (const type of typesFor(expectation).filter((t) => t === "A" || t === "AAAA"))
      jobs.push({
        id: await client.createDnsMeasurement({ name, type, probes, ...(countries ? { countries } : {}) }),
        name,
        type: type as "A" | "AAAA",
      });
  return {
    async finish() {
      const deadline = deps.now().getTime() + waitMs;
      for (const j of jobs) {
        while ((await client.status(j.id)) !== "Stopped" && deps.now().getTime() < deadline)
          await deps.sleep(Math.min(15_000, waitMs));
      }
      const answers: AtlasProbeAnswer[] = [];
      for (const j of jobs) {
        const results = await client.results(j.id);
        const where = await client.probeCountries([...new Set(results.map((r) => r.prb_id))]);
        answers.push(...classifyAtlasResults(results, expectation, j.name, j.type, where));
      }
      const section: ReportAtlasSection & { answers: AtlasProbeAnswer[] } = {
        measurementId: jobs[0]!.id,
        probes: new Set(answers.map((a) => a.probe)).size,
        countries: summarizeAtlas(answers),
        answers,
      };
      return { section, ids: jobs.map((j) => j.id) };
    },
  };
}
