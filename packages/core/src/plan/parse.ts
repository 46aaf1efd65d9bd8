import { statSync, type Stats } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, visit, type Document, type Node } from "yaml";
import type { z } from "zod";
import { formatDuration } from "../duration.js";
import { CutoverError } from "../errors.js";
import { fileKind } from "../files.js";
import { formatPlanTime, formatUtc } from "../time.js";
import { clip } from "./fields.js";
import type { PlanProvider } from "./provider.js";
import { createPlanSchema, providersWithOption, type AnyPlan, type PlanOf, type PlanSchema } from "./schema.js";

export interface PlanProblem {
  line: number;
  col: number;
  path: string;
  message: string;
}

export interface ParsedPlan<Plan = AnyPlan> {
  plan: Plan;
  /** The file as given (for messages) and its directory (relative paths in the plan resolve there). */
  file: string;
  /** Advice that does not stop the plan (e.g. port 25 forwarded without PROXY protocol). */
  warnings: string[];
}

/** Limits checked before a plan is parsed, so that no file makes `cutover plan` slow or large. */
export const PLAN_LIMITS = {
  /** A plan is a page or two of YAML; 1 MiB leaves room for long record lists. */
  bytes: 1024 * 1024,
  /** A plan nests 5 levels deep; deeper YAML (100k levels took 25 s to parse) is refused. */
  depth: 64,
  /** Aliases expanded by the YAML reader (a billion-laughs file expands a few into billions). */
  aliases: 50,
  /** Problems listed one by one; more are counted ("and N more"). */
  problems: 50,
} as const;

/** A plan that cannot be used: every problem at once, each a line `file:LINE:COL path: message` in `details`. */
export class PlanError extends CutoverError {
  override name = "PlanError";
  readonly file: string;
  /** The lines printed under the message. */
  readonly details: readonly string[];
  readonly problems: readonly PlanProblem[];
  /** Problems found beyond the ones listed (PLAN_LIMITS.problems). */
  readonly more: number;
  constructor(file: string, problems: PlanProblem[], more = 0) {
    const lines = problems.map((p) => `${file}:${p.line}:${p.col} ${p.path}: ${p.message}`);
    if (more > 0) lines.push(`... and ${more} more problem${more === 1 ? "" : "s"} (fix these first)`);
    const total = problems.length + more;
    super(`${file} has ${total} problem${total === 1 ? "" : "s"}:`, { code: "E_PLAN" });
    this.file = file;
    this.details = lines;
    this.problems = problems;
    this.more = more;
  }
}

export interface ParsePlanOptions<P extends readonly PlanProvider[]> {
  /** The DNS providers a plan may name (`@cutover/dns`'s `providerRegistry`): the `dns:` part is theirs. */
  providers: P;
  file: string;
  now: Date;
  allowPastSwap?: boolean;
  /**
   * The plan file's directory: when given, the files the plan names (zone files, the TSIG key file) are
   * checked to be regular files, before anything reads them.
   */
  baseDir?: string;
}

/**
 * Parses and validates a plan file. Every problem is collected and thrown at once as a PlanError
 * whose lines read `file:LINE:COL path.to.key: what is wrong and what would be right`. Total and linear
 * in the size of the file: any text gives a plan or a PlanError (fuzzed in test/plan/fuzz.test.ts).
 */
export function parsePlan<const P extends readonly PlanProvider[]>(
  text: string,
  options: ParsePlanOptions<P>,
): ParsedPlan<PlanOf<P>> {
  const planSchema = schemaFor(options.providers);
  const bytes = Buffer.byteLength(text);
  if (bytes > PLAN_LIMITS.bytes) {
    throw new PlanError(options.file, [
      {
        line: 1,
        col: 1,
        path: "(file)",
        message: `the file is ${(bytes / 1048576).toFixed(1)} MiB; a plan file is at most 1 MiB`,
      },
    ]);
  }
  const deep = findDeepNesting(text, PLAN_LIMITS.depth);
  if (deep) {
    throw new PlanError(options.file, [
      { ...deep, path: "(yaml)", message: `nested more than ${PLAN_LIMITS.depth} levels deep; a plan needs 5 or 6` },
    ]);
  }
  const lineCounter = new LineCounter();
  // uniqueKeys: false because the YAML library's own check compares every key with every other (quadratic:
  // 20k keys took 32 s); duplicates are found below with a set per mapping.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const pos = (offset: number | undefined) => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  const problems = new Problems(options.file);
  if (doc.errors.length > 0) {
    for (const e of doc.errors)
      problems.push(() => ({ ...pos(e.pos[0]), path: "(yaml)", message: e.message.split("\n")[0] ?? e.message }));
    problems.throwIfAny();
  }
  checkYamlNodes(doc, pos, problems);
  problems.throwIfAny();
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: PLAN_LIMITS.aliases }) ?? {};
  } catch (error) {
    // The YAML library refuses an alias bomb or an unresolved alias while building values; say where.
    const at = firstAlias(doc);
    const why = error instanceof Error ? error.message : String(error);
    throw new PlanError(options.file, [
      {
        ...pos(at?.range?.[0]),
        path: "(yaml)",
        message: /Excessive alias count/.test(why)
          ? `aliases expand to too much (a YAML "billion laughs"); write the values out, or use at most ${PLAN_LIMITS.aliases} aliases`
          : `${why.split("\n")[0]}`,
      },
    ]);
  }

  const locate = (path: readonly PropertyKey[], key?: string): { line: number; col: number } => {
    // The deepest node that exists on the path; for an unknown key, the key itself.
    let node: unknown = doc.contents;
    let best = pos((doc.contents as Node | null)?.range?.[0]);
    for (const seg of path) {
      if (!isMap(node) && !(node && typeof node === "object" && "items" in node)) break;
      const items = (node as { items: unknown[] }).items;
      let next: unknown;
      if (isMap(node)) {
        const pair = items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
        if (isPair(pair)) {
          best = pos((pair.key as Node).range?.[0]);
          next = pair.value;
          if (next && (next as Node).range) best = pos((next as Node).range![0]);
        }
      } else if (typeof seg === "number") {
        next = items[seg];
        if (next && (next as Node).range) best = pos((next as Node).range![0]);
      }
      if (next === undefined) break;
      node = next;
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
      if (pair && isScalar(pair.key) && pair.key.range) return pos(pair.key.range[0]);
    }
    return best;
  };

  // Located lazily: past PLAN_LIMITS.problems a problem is only counted, so 400k unknown keys stay linear.
  const add = (path: readonly PropertyKey[], message: string, key?: string) => {
    const full = key === undefined ? path : [...path, key];
    problems.push(() => ({ ...locate(path, key), path: formatPath(full), message }));
  };

  const result = planSchema.safeParse(data);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        const known = problems.full() ? [] : knownKeys(planSchema, issue.path, data);
        for (const key of issue.keys) {
          if (problems.full()) {
            problems.count();
            continue;
          }
          const guess = closest(key, known);
          const owners =
            issue.path.length === 1 && issue.path[0] === "dns" ? providersWithOption(options.providers, key) : [];
          add(
            issue.path,
            `unknown key "${clip(key)}"` +
              (guess
                ? `; did you mean "${guess}"?`
                : owners.length
                  ? `; only for dns.provider ${owners.join(" or ")}`
                  : known.length
                    ? `; expected one of ${known.join(", ")}`
                    : ""),
            key,
          );
        }
      } else if (issue.code === "invalid_type" && issue.input === undefined) {
        add(issue.path, `is required: ${issue.message.replace(/^Invalid input: /, "")}`);
      } else {
        add(issue.path, issue.message.replace(/^Invalid input: /, ""));
      }
    }
  }

  const warnings: string[] = [];
  if (result.success) {
    const plan = result.data as AnyPlan;
    const files: Array<{ path: readonly PropertyKey[]; file: string }> = [];
    const provider = options.providers.find((p) => p.name === plan.dns.provider);
    const checkProvider = () =>
      provider?.checkPlan?.(plan.dns as never, {
        problem: (path, message) => add(["dns", ...path], message),
        warning: (message) => warnings.push(message),
        file: (path, file) => files.push({ path: ["dns", ...path], file }),
      });
    checkPlan(plan, options.allowPastSwap ? undefined : options.now, add, warnings, checkProvider);
    if (options.baseDir !== undefined) checkFiles(files, options.baseDir, add);
  }
  problems.throwIfAny();
  return { plan: result.data as PlanOf<P>, file: options.file, warnings };
}

/** One schema per list of providers (the CLI passes the same registry every time). */
const schemas = new WeakMap<readonly PlanProvider[], z.ZodType>();
function schemaFor<const P extends readonly PlanProvider[]>(providers: P): PlanSchema<P> {
  let schema = schemas.get(providers);
  if (!schema) {
    schema = createPlanSchema(providers);
    schemas.set(providers, schema);
  }
  return schema as PlanSchema<P>;
}

/** Problems in the order found; the first PLAN_LIMITS.problems are located and listed, the rest counted. */
class Problems {
  private readonly listed: PlanProblem[] = [];
  private extra = 0;
  private readonly file: string;
  constructor(file: string) {
    this.file = file;
  }
  full(): boolean {
    return this.listed.length >= PLAN_LIMITS.problems;
  }
  count(): void {
    this.extra++;
  }
  push(make: () => PlanProblem): void {
    if (this.full()) this.extra++;
    else this.listed.push(make());
  }
  throwIfAny(): void {
    if (this.listed.length === 0) return;
    this.listed.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new PlanError(this.file, this.listed, this.extra);
  }
}

/**
 * What the YAML reader passes without a word but a plan must not hold: a key twice in one mapping (the
 * last would win silently), a key that is not a plain scalar, and `__proto__` (a JavaScript object cannot
 * hold it as a key: it would vanish). One pass over the nodes (aliases are not followed), a set per mapping.
 */
function checkYamlNodes(
  doc: Document.Parsed,
  pos: (offset: number | undefined) => { line: number; col: number },
  problems: Problems,
): void {
  visit(doc, {
    Map(_key, map, ancestors) {
      const seen = new Map<string, number>();
      for (const pair of map.items) {
        const key = pair.key as Node | null;
        const at = () => pos(key?.range?.[0] ?? map.range?.[0]);
        if (!isScalar(key)) {
          problems.push(() => ({
            ...at(),
            path: where(ancestors),
            message: "a key must be a plain name, not a list or mapping",
          }));
          continue;
        }
        const name = String(key.value);
        if (name === "__proto__")
          problems.push(() => ({
            ...at(),
            path: where(ancestors),
            message: '"__proto__" cannot be a key (JavaScript objects drop it); remove it',
          }));
        const first = seen.get(name);
        if (first !== undefined)
          problems.push(() => ({
            ...at(),
            path: where(ancestors),
            message: `"${clip(name)}" is given twice in this mapping (also on line ${pos(first).line}); give it once`,
          }));
        else seen.set(name, key.range?.[0] ?? 0);
      }
    },
  });
}

/** The path of a node from its ancestors, for problems found on the YAML nodes themselves. */
function where(ancestors: readonly unknown[]): string {
  const segs: PropertyKey[] = [];
  for (let i = 0; i < ancestors.length; i++) {
    const a = ancestors[i];
    if (isPair(a) && isScalar(a.key)) segs.push(String(a.key.value));
    else if (isSeq(a)) {
      const child = ancestors[i + 1];
      const idx = a.items.indexOf(child as never);
      if (idx >= 0) segs.push(idx);
    }
  }
  return segs.length === 0 ? "(top)" : formatPath(segs);
}

function firstAlias(doc: Document.Parsed): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Alias(_key, node) {
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

/**
 * Where the YAML nests deeper than `max` (block indentation levels plus open flow brackets), found in one
 * pass over the text before the YAML reader sees it. It reads quotes, comments and block scalars well
 * enough to never count too little; it may count a little too much, which no plan comes near.
 */
export function findDeepNesting(text: string, max: number): { line: number; col: number } | undefined {
  const indents: number[] = [];
  let flow = 0;
  let quote: '"' | "'" | undefined;
  let blockIndent = -1; // inside a block scalar (| or >): lines indented more than this are text
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const lineStart = i;
    let indent = 0;
    while (text[i + indent] === " ") indent++;
    let j = i + indent;
    const first = text[j];
    const blank = first === undefined || first === "\n" || first === "\r" || first === "#";
    if (blockIndent >= 0 && (blank || indent > blockIndent)) {
      // Part of a block scalar: skip the line.
    } else if (quote === undefined) {
      blockIndent = -1;
      if (!blank && flow === 0) {
        while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
        indents.push(indent);
        // "- - x" and "- key: v" open one level per dash on the line.
        while (text[j] === "-" && (text[j + 1] === " " || text[j + 1] === "\t")) {
          j += 2;
          while (text[j] === " ") j++;
          indents.push(j - lineStart);
        }
        if (indents.length + flow > max) return { line, col: indent + 1 };
      }
    }
    let prev = "";
    for (; j < n && text[j] !== "\n"; j++) {
      if (blockIndent >= 0 && (blank || indent > blockIndent)) break;
      const ch = text[j]!;
      if (quote !== undefined) {
        if (ch === "\\" && quote === '"') j++;
        else if (ch === quote) {
          if (quote === "'" && text[j + 1] === "'") j++;
          else quote = undefined;
        }
        prev = "x";
        continue;
      }
      if (ch === " " || ch === "\t" || ch === "\r") continue;
      if (ch === "#" && (j === lineStart || text[j - 1] === " " || text[j - 1] === "\t")) break;
      const atScalarStart =
        prev === "" || prev === "[" || prev === "{" || prev === "," || prev === ":" || prev === "-" || prev === "?";
      if ((ch === '"' || ch === "'") && atScalarStart) quote = ch;
      else if (ch === "[" || ch === "{") {
        flow++;
        if (indents.length + flow > max) return { line, col: j - lineStart + 1 };
      } else if ((ch === "]" || ch === "}") && flow > 0) flow--;
      else if ((ch === "|" || ch === ">") && (prev === ":" || prev === "-" || prev === "") && flow === 0) {
        // A block scalar starts; its header may carry indicators and a comment.
        if (/^[|>][-+0-9]*\s*(#.*)?\r?$/.test(text.slice(j, text.indexOf("\n", j) < 0 ? n : text.indexOf("\n", j)))) {
          blockIndent = indent;
          break;
        }
      }
      prev = ch;
    }
    while (j < n && text[j] !== "\n") j++;
    i = j + 1;
    line++;
  }
  return undefined;
}

/** The checks that look at more than one field. */
function checkPlan(
  plan: AnyPlan,
  now: Date | undefined,
  add: (path: readonly PropertyKey[], message: string) => void,
  warnings: string[],
  checkProvider: () => void,
): void {
  if (!plan.old.ipv4 && !plan.old.ipv6)
    add(["old"], "give the old host's ipv4 and/or ipv6, the addresses to move away from");
  if (!plan.new.ipv4 && !plan.new.ipv6) add(["new"], "give the new host's ipv4 and/or ipv6, the addresses to move to");
  if (plan.old.ipv4 && plan.old.ipv4 === plan.new.ipv4)
    add(["new", "ipv4"], `is the same as old.ipv4 (${plan.old.ipv4}); nothing would move`);
  if (plan.old.ipv6 && plan.new.ipv6 && sameV6(plan.old.ipv6, plan.new.ipv6))
    add(["new", "ipv6"], `is the same as old.ipv6 (${plan.old.ipv6}); nothing would move`);
  if (plan.old.ipv4 && !plan.new.ipv4)
    add(["new"], `old.ipv4 is ${plan.old.ipv4} but new.ipv4 is missing: A records would have nowhere to go`);

  if (now && plan.schedule.swapAt.getTime() <= now.getTime()) {
    add(
      ["schedule", "swapAt"],
      `${formatPlanTime(plan.schedule.swapAt)} is in the past (now is ${formatUtc(now, { seconds: true })}); pick a future time`,
    );
  }

  const seen = new Map<number, number>();
  plan.relay.ports.forEach((p, i) => {
    const first = seen.get(p);
    if (first !== undefined)
      add(["relay", "ports", i], `port ${p} is listed twice (also at index ${first}); list each port once`);
    else seen.set(p, i);
  });
  for (const key of Object.keys(plan.relay.proxyProtocol)) {
    const n = Number(key);
    if (!Number.isInteger(n) || n < 1 || n > 65535) add(["relay", "proxyProtocol", key], `"${key}" is not a port`);
    else if (!seen.has(n))
      add(["relay", "proxyProtocol", key], `port ${n} is not in relay.ports; add it there or remove this line`);
  }
  const socketPaths = new Set<string>();
  plan.relay.sockets.forEach((s, i) => {
    if (socketPaths.has(s.listen)) add(["relay", "sockets", i, "listen"], `${s.listen} is listed twice`);
    socketPaths.add(s.listen);
    if (s.to.path === undefined && (s.to.host === undefined || s.to.port === undefined))
      add(["relay", "sockets", i, "to"], "give either host and port, or path, to forward to");
  });

  // What only the provider knows (a zone file for every zone): declared in its own file.
  checkProvider();

  checkTiming(plan, add, warnings);
  checkSync(plan, add);

  if (seen.has(25) && plan.relay.proxyProtocol["25"] === undefined) {
    warnings.push(
      "relay.ports forwards 25 (SMTP) without PROXY protocol: the new mail server will see every client as the old host " +
        `(${plan.old.ipv4 ?? plan.old.ipv6}). If that address is in Postfix's mynetworks, the new server becomes an open relay. ` +
        "Use relay.proxyProtocol: { 25: v2 } with postscreen_upstream_proxy_protocol = haproxy, or keep the old address out of mynetworks.",
    );
  }
}

/** A sync needs the hosts' SSH, the relay's handover, and what each mode needs. */
function checkSync(plan: AnyPlan, add: (path: readonly PropertyKey[], message: string) => void): void {
  const sync = plan.sync;
  if (sync === undefined) return;
  if (sync.files.length === 0 && sync.mysql === undefined)
    add(["sync"], "list files and/or mysql to sync, or remove the sync section");
  if (!plan.new.ssh) add(["sync"], "the old host copies to the new one over SSH: give new.ssh, e.g. root@203.0.113.20");
  if (plan.relay.ports.length === 0 && plan.relay.sockets.length === 0)
    add(["sync"], "the final sync runs in the relay's handover: give relay.ports or relay.sockets");
  if (plan.relay.workers !== undefined && plan.relay.workers > 1)
    add(["relay", "workers"], "a sync holds connections in one process: remove workers (or set 1)");
  const m = sync.mysql;
  if (m?.mode === "dump" && m.databases === undefined)
    add(["sync", "mysql"], "mode dump copies the databases you list: add databases: [shop]");
  if (m?.mode === "replication" && m.databases !== undefined)
    add(["sync", "mysql", "databases"], "mode replication promotes the whole replica: remove databases");
  if (m !== undefined && plan.handover.mode === "rebind" && plan.relay.ports.includes(3306))
    add(
      ["sync", "mysql"],
      "with handover rebind the relay cannot take 3306 while the old server still runs for the sync: use handover mode redirect",
    );
  const seen = new Set<string>();
  sync.files.forEach((f, i) => {
    const path = typeof f === "string" ? f : f.path;
    if (seen.has(path)) add(["sync", "files", i], `${path} is listed twice`);
    seen.add(path);
  });
}

/**
 * Timeline settings that defeat the relay or the rollback: refused when they cannot work, a one-line warning
 * with the consequence when they are a choice someone may make on purpose.
 */
function checkTiming(
  plan: AnyPlan,
  add: (path: readonly PropertyKey[], message: string) => void,
  warnings: string[],
): void {
  const { quiet, deadline } = plan.schedule.drain;
  const restore = plan.schedule.restoreTtlAfter;
  const hasRelay = plan.relay.ports.length > 0 || plan.relay.sockets.length > 0;
  const lowTtlMs = plan.dns.lowTtl * 1000;
  if (hasRelay) {
    if (quiet === 0)
      add(
        ["schedule", "drain", "quiet"],
        "0s would drain the relay at the swap, refusing every client that still has the old address; give the quiet time to wait for, e.g. 30m",
      );
    else if (quiet < lowTtlMs)
      warnings.push(
        `schedule.drain.quiet (${formatDuration(quiet)}) is shorter than dns.lowTtl (${plan.dns.lowTtl}s): a lull in traffic may drain the relay while resolvers still hand out the old address, and those clients are refused`,
      );
    if (deadline < quiet)
      add(
        ["schedule", "drain", "deadline"],
        `${formatDuration(deadline)} is shorter than drain.quiet (${formatDuration(quiet)}): the relay would be stopped before it could ever be quiet; make the deadline at least the quiet time`,
      );
  }
  if (restore === 0)
    add(
      ["schedule", "restoreTtlAfter"],
      "0s would put the long TTL back at the swap itself, so a rollback would take the full old TTL to reach caches; restore after the drain, e.g. 24h",
    );
  else if (hasRelay && restore < quiet)
    warnings.push(
      `schedule.restoreTtlAfter (${formatDuration(restore)}) comes before the relay can drain (drain.quiet ${formatDuration(quiet)} at the earliest): a rollback after T+${formatDuration(restore)} takes up to the old TTL to reach every cache`,
    );
  else if (restore < lowTtlMs)
    warnings.push(
      `schedule.restoreTtlAfter (${formatDuration(restore)}) is shorter than dns.lowTtl (${plan.dns.lowTtl}s): the long TTL is back before caches have seen the swap's answer expire, so a rollback takes up to the old TTL`,
    );
  if (plan.propagation.timeout === 0)
    add(
      ["propagation", "timeout"],
      "0s would stop watching at the swap, before any resolver could answer new; leave it out (old TTL + margin) or give e.g. 2h",
    );
}

/** The files a plan names must be regular files (a device or FIFO would be read for ever); missing ones are left to the reader. */
function checkFiles(
  files: ReadonlyArray<{ path: readonly PropertyKey[]; file: string }>,
  baseDir: string,
  add: (path: readonly PropertyKey[], message: string) => void,
): void {
  for (const { path, file } of files) {
    let st: Stats | undefined;
    try {
      st = statSync(resolve(baseDir, file));
    } catch {
      continue;
    }
    if (!st.isFile()) add(path, `${clip(file)} is ${fileKind(st)}, not a regular file`);
  }
}

function sameV6(a: string, b: string): boolean {
  return isIP(a) === 6 && isIP(b) === 6 && expandV6(a) === expandV6(b);
}

function expandV6(a: string): string {
  const [head = "", tail = ""] = a.toLowerCase().split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = a.includes("::") ? Array(Math.max(0, 8 - h.length - t.length)).fill("0") : [];
  return [...h, ...fill, ...t].map((x) => x.padStart(4, "0")).join(":");
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(top)";
  return path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? String(s) : `.${String(s)}`)).join("");
}

/** The keys the schema allows at `path`, for "did you mean". */
function knownKeys(schema: z.ZodType, path: readonly PropertyKey[], data: unknown): string[] {
  const keys = new Set<string>();
  const visit = (s: unknown, rest: readonly PropertyKey[], value: unknown) => {
    const def = (s as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return;
    switch (def.type) {
      case "default":
      case "optional":
      case "nullable":
      case "prefault":
      case "readonly":
        return visit(def.innerType, rest, value);
      case "pipe":
        return visit(def.in, rest, value);
      case "union": {
        // A discriminated union (dns by provider): only the variant the value names, so a key of another
        // provider is not offered as the "did you mean" for itself.
        const tag = typeof def.discriminator === "string" ? def.discriminator : undefined;
        const named = tag && value && typeof value === "object" ? (value as Record<string, unknown>)[tag] : undefined;
        const options = def.options as unknown[];
        const chosen =
          named === undefined
            ? []
            : options.filter((o) => {
                const shape = (o as { _zod?: { def?: { shape?: Record<string, unknown> } } })._zod?.def?.shape;
                const lit = (shape?.[tag!] as { _zod?: { def?: { values?: unknown[] } } } | undefined)?._zod?.def
                  ?.values;
                return lit?.includes(named) === true;
              });
        for (const o of chosen.length > 0 ? chosen : options) visit(o, rest, value);
        return;
      }
      case "array":
        return visit(def.element, rest.slice(1), Array.isArray(value) ? value[Number(rest[0])] : undefined);
      case "object": {
        const shape = def.shape as Record<string, unknown>;
        if (rest.length === 0) {
          for (const k of Object.keys(shape)) keys.add(k);
          return;
        }
        const [head, ...tail] = rest;
        const child = shape[String(head)];
        if (child)
          visit(
            child,
            tail,
            value && typeof value === "object" ? (value as Record<string, unknown>)[String(head)] : undefined,
          );
        return;
      }
      default:
        return;
    }
  };
  visit(schema, path, data);
  return [...keys];
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
