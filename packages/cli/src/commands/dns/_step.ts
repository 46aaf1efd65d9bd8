import { mkdir, readFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import {
  applyChangeSet,
  finishPendingWrites,
  waitServed,
  writeFileAtomic,
  type ApplyReport,
  type DnsProvider,
  type ServedReport,
} from "@cutover/dns";
import type { Deps } from "../../context.js";
import { ExitCode, UsageError, UserError } from "../../errors.js";
import { describeChange, outcomeToJson } from "../../output/records.js";
import { createReporter, type Reporter } from "../../output/reporter.js";
import { loadPlan, type LoadedPlan } from "../../plan/load.js";
import { createProviderForPlan } from "../../plan/provider.js";
import { stateDirFor } from "../../state/store.js";
import {
  type ChangeOutcome,
  type ChangeSet,
  type ChangeStep,
  type DnsRecord,
  parseDuration,
  canonicalIp,
  checkChangeLimits,
  classifyChange,
  findRecord,
  planMove,
  reconstructOriginals,
  type Move,
  type MoveAddresses,
} from "@cutover/core";
import { authoritativeOf } from "@cutover/core/plan";

export interface StepOptions {
  plan: string;
  dryRun?: boolean;
  force?: boolean;
  json?: boolean;
  originals?: string;
  saveOriginals?: string;
  ttl?: string;
  /** How long to wait for the authoritative servers to serve the change (a duration; default 20s). */
  waitServed?: string;
}

export interface PlanRecords {
  loaded: LoadedPlan;
  provider: DnsProvider;
  records: DnsRecord[];
  zoneSizes: Record<string, number>;
  addresses: MoveAddresses;
  names: string[] | undefined;
}

/** Loads the plan, builds its provider and reads every record of its zones. The caller closes the provider. */
export async function readPlanZones(planFile: string, deps: Deps): Promise<PlanRecords> {
  const loaded = await loadPlan(planFile, { cwd: deps.cwd, now: deps.now() });
  const provider = await createProviderForPlan(loaded, deps.env, { sleep: deps.sleep });
  const records: DnsRecord[] = [];
  const zoneSizes: Record<string, number> = {};
  try {
    for (const zone of loaded.plan.dns.zones) {
      const rs = await provider.listRecords(zone);
      zoneSizes[zone] = rs.length;
      records.push(...rs);
    }
  } catch (error) {
    await provider.close?.();
    throw error;
  }
  const { plan } = loaded;
  return {
    loaded,
    provider,
    records,
    zoneSizes,
    addresses: { old: plan.old, new: plan.new },
    names: plan.dns.records === "auto" ? undefined : plan.dns.records,
  };
}

const isAddr = (r: DnsRecord) => r.type === "A" || r.type === "AAAA";
const v = (r: DnsRecord): "ipv4" | "ipv6" => (r.type === "AAAA" ? "ipv6" : "ipv4");
const on = (r: DnsRecord, addr: string | undefined) =>
  addr !== undefined && canonicalIp(r.content) === canonicalIp(addr);

/**
 * Where the dns commands keep the records as they were before cutover's first change (`lower-ttl` or
 * `swap`, whichever ran first): beside the run's journal. Written once, never overwritten.
 */
export function keptOriginalsPath(loaded: LoadedPlan): string {
  return join(stateDirFor(loaded.path, loaded.plan.name), "dns-originals.json");
}

async function readKeptOriginals(loaded: LoadedPlan): Promise<DnsRecord[] | undefined> {
  const path = keptOriginalsPath(loaded);
  try {
    await readFile(path);
  } catch {
    return undefined;
  }
  return readOriginals(path, loaded.dir);
}

/** Every moved address record's TTL is at or below the low TTL: these look lowered, not original. */
function looksLowered(records: readonly DnsRecord[], lowTtl: number): boolean {
  const addrs = records.filter((r) => isAddr(r) && !r.proxied);
  return addrs.length > 0 && addrs.every((r) => r.ttl <= lowTtl);
}

async function readOriginals(file: string, cwd: string): Promise<DnsRecord[]> {
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new UserError(`originals ${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  const list = Array.isArray(data) ? data : (data as { originals?: unknown })?.originals;
  const ok =
    Array.isArray(list) &&
    list.every(
      (r: Partial<DnsRecord>) =>
        typeof r?.id === "string" &&
        typeof r.zone === "string" &&
        typeof r.name === "string" &&
        typeof r.type === "string" &&
        typeof r.content === "string" &&
        typeof r.ttl === "number",
    );
  if (!ok) {
    throw new UserError(
      `--originals ${file}: expected a JSON list of records {id, zone, name, type, content, ttl} (as written by --save-originals)`,
    );
  }
  return list as DnsRecord[];
}

/**
 * The change set for one step: the move planned (by `planMove`, as every view of the move plans it) from
 * the records before it (the zone as it is for lower and swap, the originals for restore and rollback),
 * each change starting from the record as it is now.
 */
export async function planStep(
  step: ChangeStep,
  ctx: PlanRecords,
  opts: StepOptions,
  deps: Deps,
): Promise<{ set: ChangeSet; originals: DnsRecord[] }> {
  const { addresses, records, names } = ctx;
  const lowTtl = ctx.loaded.plan.dns.lowTtl;
  const options = { lowTtl, capabilities: ctx.provider.capabilities, current: records };
  let move: Move;
  if (step === "lower" || step === "swap") {
    move = planMove(records, addresses, { ...options, names });
    // A listed name already on the new address is done (a rerun after a partial swap), not a problem.
    const problems = move.problems.filter((p) => {
      const name = p.split(" ")[0]!;
      return !records.some((r) => r.name === name && isAddr(r) && on(r, addresses.new[v(r)]));
    });
    if (problems.length > 0) throw new UserError("the records cannot be moved as planned", { details: problems });
  } else if (opts.originals || (opts.ttl === undefined && (await readKeptOriginals(ctx.loaded)))) {
    const file = opts.originals ?? keptOriginalsPath(ctx.loaded);
    const all = await readOriginals(file, deps.cwd);
    if (step === "restore" && looksLowered(all, lowTtl)) {
      throw new UserError(
        `${file}: every TTL in it is at or below the low TTL ${lowTtl}: it was saved after the TTLs were lowered, so restoring it would keep them low for good`,
        {
          code: "E_ORIGINALS_LOWERED",
          details: [
            "use the file saved before the first change (the run's journal or `dns lower-ttl --save-originals`),",
            "or give the TTL to restore: --ttl SECONDS",
          ],
        },
      );
    }
    // The addresses on the old host move; the other members of their RRsets stay.
    move = planMove(all, addresses, options);
  } else {
    const ttl = ttlOption(opts.ttl);
    if (step === "restore" && ttl === undefined) {
      throw new UserError(
        "restore needs the original TTLs: pass --originals FILE (from --save-originals or the journal) or --ttl SECONDS",
      );
    }
    move = planMove(reconstructOriginals(records, addresses, names, ttl), addresses, options);
  }
  let originals = [...move.targets, ...move.siblings, ...move.spf];
  if (step === "lower" || step === "swap") {
    // The originals are the records before cutover's first change: the kept ones where a lower ran first.
    const kept = await readKeptOriginals(ctx.loaded);
    if (kept) originals = originals.map((r) => kept.find((k) => k.id === r.id && k.type === r.type) ?? r);
  }
  return { set: move[step], originals };
}

function outcomeLine(out: Reporter, o: ChangeOutcome): string {
  const { c } = out;
  const d = describeChange(o.change);
  switch (o.status) {
    case "applied":
      return `  ${c.green("✓ applied ")} ${d}`;
    case "already":
      return `  ${c.dim("= already ")} ${d}`;
    case "failed":
      return `  ${c.red("✗ failed  ")} ${d}: ${o.error}${o.changed ? " (the read-back shows it DID change)" : ""}`;
    case "conflict":
      return `  ${c.yellow("! conflict")} ${d}: now ${o.found ? `${o.found.content} ttl ${o.found.ttl}` : "gone"}; changed by someone else, left alone`;
    case "pending":
      return `  ${c.dim("… pending ")} ${d}: not attempted after an earlier failure`;
  }
}

const STEP_WORD: Record<ChangeStep, string> = {
  lower: "lower TTL",
  swap: "swap",
  restore: "restore TTL",
  rollback: "roll back",
};

/** Runs one DNS step now: plan it from the records as they are, check its size, apply it, print each record. */
function ttlOption(text: string | undefined): number | undefined {
  const ttl = text === undefined ? undefined : Number(text);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0))
    throw new UsageError(`--ttl ${text}: give whole seconds, e.g. 3600`);
  return ttl;
}

export async function runDnsStep(step: ChangeStep, opts: StepOptions, deps: Deps): Promise<void> {
  const out = createReporter(deps, { json: opts.json === true, env: deps.env });
  ttlOption(opts.ttl); // options first: bad usage is said before the plan, the provider or the network
  const ctx = await readPlanZones(opts.plan, deps);
  try {
    const { set, originals } = await planStep(step, ctx, opts, deps);
    const { plan } = ctx.loaded;
    const where = `${plan.dns.zones.join(", ")} (${ctx.provider.name})`;
    const servedWait = parseWaitServed(opts.waitServed);
    const tooBig = checkChangeLimits(set, ctx.zoneSizes, { maxChanges: plan.dns.maxChanges });
    if (tooBig.length > 0 && !opts.force && !opts.dryRun) {
      throw new UserError(`refusing a large change; check it with --dry-run, then run again with --force`, {
        details: tooBig,
      });
    }
    if ((step === "lower" || step === "swap") && !opts.dryRun)
      await keepOriginals(step, ctx, originals, opts, deps, out);
    if (set.changes.length === 0 && !opts.dryRun) {
      // Nothing to write; a write of an earlier attempt that the server does not serve yet is finished.
      const pending = await finishPendingWrites(ctx.provider, plan.dns.zones);
      for (const n of pending.notes) out.line(n);
      if (pending.failed.size > 0) {
        out.data({ step, dryRun: false, provider: ctx.provider.name, complete: false, changes: [], originals });
        for (const [zone, why] of pending.failed) out.error(`${zone}: ${why}`);
        throw new ExitCode(1);
      }
    }
    if (set.changes.length === 0) {
      // Done by an earlier run: the step is done once the servers serve it, so a rerun checks again.
      const auth = authoritativeOf(plan);
      const done = !opts.dryRun && auth ? await doneBefore(step, ctx) : undefined;
      const served =
        done && done.changes.length > 0 && auth
          ? await waitServed(done, { ...auth, timeoutMs: servedWait, ...(servedWait === 0 ? { intervalMs: 0 } : {}) })
          : undefined;
      out.data({
        step,
        dryRun: opts.dryRun === true,
        provider: ctx.provider.name,
        complete: true,
        changes: [],
        originals,
        ...(served ? { served: servedJson(served) } : {}),
      });
      if (served) {
        for (const n of served.notes) out.line(`  ${n}`);
        if (!served.served) {
          out.line(`${STEP_WORD[step]}: nothing to write in ${where}, done before`);
          for (const p of served.problems) out.line(`  ${out.c.yellow("not served")} ${p}`);
          out.error(notServedYet(step));
          throw new ExitCode(1);
        }
        out.line(
          `${STEP_WORD[step]}: nothing to do in ${where}; served by ${served.servers.length} authoritative server(s)`,
        );
        return;
      }
      out.line(`${STEP_WORD[step]}: nothing to do in ${where}`);
      return;
    }
    if (opts.dryRun) {
      // What the run would find, record by record, from the records just read: to write, already done, or
      // changed by someone else (left alone).
      const dry = set.changes.map((ch) => {
        const now = classifyChange(ctx.records, ch);
        return { ch, status: now === "apply" ? ("planned" as const) : now === "already" ? now : ("conflict" as const) };
      });
      out.data({
        step,
        dryRun: true,
        provider: ctx.provider.name,
        changes: dry.map(({ ch, status }) => ({ ...outcomeToJson({ status: "pending", change: ch }), status })),
        limits: tooBig,
        originals,
      });
      out.line(`${STEP_WORD[step]}: ${set.changes.length} record(s) in ${where} (dry run, nothing written)`);
      for (const { ch, status } of dry) {
        const found = status === "conflict" ? findRecord(ctx.records, ch) : undefined;
        const mark =
          status === "planned"
            ? out.c.cyan("→ would  ")
            : status === "already"
              ? out.c.dim("= already")
              : out.c.yellow("! conflict");
        const why =
          status === "conflict"
            ? `: now ${found ? `${found.content} ttl ${found.ttl}` : "gone"}; changed by someone else, would be left alone`
            : "";
        out.line(`  ${mark} ${describeChange(ch)}${why}${ch.notes ? out.c.dim(`  (${ch.notes.join("; ")})`) : ""}`);
      }
      for (const t of tooBig) out.warn(`${t}: the real run needs --force`);
      return;
    }
    const report: ApplyReport = await applyChangeSet(ctx.provider, set);
    // Done when observable: the zone's authoritative servers serve the change, as in the timeline's steps.
    const auth = authoritativeOf(plan);
    const served =
      report.complete && auth
        ? await waitServed(set, { ...auth, timeoutMs: servedWait, ...(servedWait === 0 ? { intervalMs: 0 } : {}) })
        : undefined;
    const rdns = step === "swap" && report.complete ? await setReverseDns(ctx, out) : [];
    const counts = (s: ChangeOutcome["status"]) => report.outcomes.filter((o) => o.status === s).length;
    out.data({
      step,
      dryRun: false,
      provider: ctx.provider.name,
      complete: report.complete,
      outcomes: report.outcomes.map(outcomeToJson),
      originals,
      ...(served ? { served: servedJson(served) } : {}),
      ...(rdns.length > 0 ? { rdns } : {}),
    });
    out.line(`${STEP_WORD[step]}: ${set.changes.length} record(s) in ${where}`);
    for (const o of report.outcomes) out.line(outcomeLine(out, o));
    for (const n of report.notes) out.line(`  ${n}`);
    for (const r of rdns)
      out.line(
        `  ${r.ok ? out.c.green("✓ rdns    ") : out.c.red("✗ rdns    ")} ${r.address} → ${r.name}${r.error ? `: ${r.error}` : ""}`,
      );
    const summary = `${counts("applied")} applied, ${counts("already")} already done, ${counts("failed")} failed, ${counts("conflict")} conflict(s), ${counts("pending")} not attempted`;
    if (rdns.some((r) => !r.ok)) {
      out.error(
        "the swap is done, but setting reverse DNS failed (see above); run `cutover dns swap` again to retry it",
      );
      throw new ExitCode(1);
    }
    for (const n of served?.notes ?? []) out.line(`  ${n}`);
    if (served && !served.served) {
      out.line(`${out.c.yellow("written:")} ${summary}; verified by reading back from ${ctx.provider.name}`);
      for (const p of served.problems) out.line(`  ${out.c.yellow("not served")} ${p}`);
      out.error(notServedYet(step));
      throw new ExitCode(1);
    }
    const by =
      served && served.servers.length > 0 ? `, served by ${served.servers.length} authoritative server(s)` : "";
    if (report.complete) out.line(`${out.c.green("done:")} ${summary}; verified by reading back${by}`);
    else {
      out.line(`${out.c.red("incomplete:")} ${summary}`);
      out.error(
        `${STEP_WORD[step]} is incomplete; the records above say which changed. Fix the cause and run the same command again: it only does what is missing.`,
      );
      throw new ExitCode(1);
    }
  } finally {
    await ctx.provider.close?.();
  }
}

/**
 * Saves the originals before a lower or swap writes anything: once, beside the run's journal (never
 * overwritten: the first change's "before" is the truth), and in --save-originals' file when given.
 * A swap after a lower cannot read the originals from the records any more: it saves the kept ones, or
 * refuses to save lowered TTLs as originals.
 */
async function keepOriginals(
  step: "lower" | "swap",
  ctx: PlanRecords,
  originals: DnsRecord[],
  opts: StepOptions,
  deps: Deps,
  out: Reporter,
): Promise<void> {
  const keptPath = keptOriginalsPath(ctx.loaded);
  const kept = await readKeptOriginals(ctx.loaded);
  const lowTtl = ctx.loaded.plan.dns.lowTtl;
  if (!kept && step === "swap" && looksLowered(originals, lowTtl) && opts.saveOriginals) {
    throw new UserError(
      `--save-originals: the records already have the low TTL ${lowTtl}, so their TTLs now are not the originals, and no originals are kept in ${keptPath}`,
      {
        code: "E_ORIGINALS_LOWERED",
        details: [
          "nothing was changed; keep the file `cutover dns lower-ttl --save-originals` wrote, or run the swap without --save-originals",
        ],
      },
    );
  }
  if (!kept && !(step === "swap" && looksLowered(originals, lowTtl))) {
    await mkdir(dirname(keptPath), { recursive: true, mode: 0o700 });
    await writeFileAtomic(keptPath, `${JSON.stringify(originals, null, 2)}\n`, { mode: 0o600 });
    out.line(`the original records are kept in ${keptPath} (\`cutover dns restore\` reads them from there)`);
  } else if (kept) out.line(`the original records are kept in ${keptPath} (saved before the first change)`);
  if (opts.saveOriginals) {
    const path = isAbsolute(opts.saveOriginals) ? opts.saveOriginals : resolve(deps.cwd, opts.saveOriginals);
    await writeFileAtomic(path, `${JSON.stringify(originals, null, 2)}\n`, { mode: 0o600 });
  }
}

/** After a swap: the reverse DNS of the new addresses, when the plan asks (`new.rdns`) and the provider can. */
async function setReverseDns(
  ctx: PlanRecords,
  out: Reporter,
): Promise<Array<{ address: string; name: string; ok: boolean; error?: string }>> {
  const name = ctx.loaded.plan.new.rdns;
  if (!name) return [];
  if (!ctx.provider.setReverseDns) {
    out.warn(
      `new.rdns is set, but ${ctx.provider.name} does not manage reverse DNS: set the PTR for the new address at its host`,
    );
    return [];
  }
  const results: Array<{ address: string; name: string; ok: boolean; error?: string }> = [];
  for (const [type, family] of [
    ["A", "ipv4"],
    ["AAAA", "ipv6"],
  ] as const) {
    const address = ctx.addresses.new[family];
    if (!address) continue;
    // The provider checks that the name resolves to the address: only addresses the name now points at.
    const forward = ctx.records.some(
      (r) => r.name === name && r.type === type && (on(r, address) || on(r, ctx.addresses.old[family])),
    );
    if (!forward) {
      out.warn(`new.rdns: ${name} has no ${type} record moving to ${address}, so its reverse DNS is left as it is`);
      continue;
    }
    try {
      await ctx.provider.setReverseDns(address, name);
      results.push({ address, name, ok: true });
    } catch (error) {
      results.push({ address, name, ok: false, error: (error as Error).message });
    }
  }
  return results;
}

/** `--wait-served DURATION`: how long the servers get to serve the change (default 20s; 0: read once). */
function parseWaitServed(text: string | undefined): number {
  if (text === undefined) return 20_000;
  const ms = parseDuration(text);
  if (ms === undefined || ms > 3_600_000)
    throw new UsageError(`--wait-served ${text}: give a duration up to 1h, e.g. 20s, 2m, or 0 to read once`);
  return ms;
}

function notServedYet(step: ChangeStep): string {
  return `${STEP_WORD[step]} is written but not served yet by every authoritative server (see above): wait and run the same command again (it writes nothing more and checks again), or find why the zone is not published (a reload, a lagging secondary)`;
}

function servedJson(s: ServedReport) {
  return { served: s.served, servers: s.servers, problems: s.problems, notes: s.notes };
}

/**
 * What an earlier run of a lower or swap wrote, when this one has nothing to write: the step planned from
 * the records before cutover's first change (kept beside the journal), keeping the changes already in
 * place. Undefined without kept originals, and for restore and rollback (they always plan every record).
 */
async function doneBefore(step: ChangeStep, ctx: PlanRecords): Promise<ChangeSet | undefined> {
  if (step !== "lower" && step !== "swap") return undefined;
  const kept = await readKeptOriginals(ctx.loaded);
  if (!kept) return undefined;
  const move = planMove(kept, ctx.addresses, {
    names: ctx.names,
    lowTtl: ctx.loaded.plan.dns.lowTtl,
    capabilities: ctx.provider.capabilities,
    current: ctx.records,
  });
  return { step, changes: move[step].changes.filter((c) => classifyChange(ctx.records, c) === "already") };
}
