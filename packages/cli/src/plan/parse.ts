import { isIP } from "node:net";
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Node } from "yaml";
import type { z } from "zod";
import { UserError } from "../errors.js";
import { planSchema, type Plan } from "./schema.js";

export interface PlanProblem {
  line: number;
  col: number;
  path: string;
  message: string;
}

export interface ParsedPlan {
  plan: Plan;
  /** The file as given (for messages) and its directory (relative paths in the plan resolve there). */
  file: string;
  /** Advice that does not stop the plan (e.g. port 25 forwarded without PROXY protocol). */
  warnings: string[];
}

export class PlanError extends UserError {
  override name = "PlanError";
  readonly problems: readonly PlanProblem[];
  constructor(file: string, problems: PlanProblem[]) {
    const lines = problems.map((p) => `${file}:${p.line}:${p.col} ${p.path}: ${p.message}`);
    super(`${file} has ${problems.length} problem${problems.length === 1 ? "" : "s"}:`, {
      code: "E_PLAN",
      details: lines,
    });
    this.problems = problems;
  }
}

/**
 * Parses and validates a plan file. Every problem is collected and thrown at once as a PlanError
 * whose lines read `file:LINE:COL path.to.key: what is wrong and what would be right`.
 */
export function parsePlan(text: string, options: { file: string; now: Date; allowPastSwap?: boolean }): ParsedPlan {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number | undefined) => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    throw new PlanError(
      options.file,
      doc.errors.map((e) => ({
        ...pos(e.pos[0]),
        path: "(yaml)",
        message: e.message.split("\n")[0] ?? e.message,
      })),
    );
  }
  const data: unknown = doc.toJS() ?? {};
  const problems: PlanProblem[] = [];

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

  const add = (path: readonly PropertyKey[], message: string, key?: string) => {
    const full = key === undefined ? path : [...path, key];
    problems.push({ ...locate(path, key), path: formatPath(full), message });
  };

  const result = planSchema.safeParse(data);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        const known = knownKeys(planSchema, issue.path, data);
        for (const key of issue.keys) {
          const guess = closest(key, known);
          add(
            issue.path,
            `unknown key "${key}"` +
              (guess ? `; did you mean "${guess}"?` : known.length ? `; expected one of ${known.join(", ")}` : ""),
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
  if (result.success) checkPlan(result.data, options.allowPastSwap ? undefined : options.now, add, warnings);
  if (problems.length > 0) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new PlanError(options.file, problems);
  }
  return { plan: result.data!, file: options.file, warnings };
}

/** The checks that look at more than one field. */
function checkPlan(
  plan: Plan,
  now: Date | undefined,
  add: (path: readonly PropertyKey[], message: string) => void,
  warnings: string[],
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
      `${plan.schedule.swapAt.toISOString()} is in the past (now is ${now.toISOString()}); pick a future time`,
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

  if (plan.dns.provider === "zonefile") {
    for (const zone of plan.dns.zones) {
      if (!(zone in plan.dns.files))
        add(["dns", "files"], `no zone file for ${zone}; add "${zone}: path/to/${zone}.zone"`);
    }
  }

  if (seen.has(25) && plan.relay.proxyProtocol["25"] === undefined) {
    warnings.push(
      "relay.ports forwards 25 (SMTP) without PROXY protocol: the new mail server will see every client as the old host " +
        `(${plan.old.ipv4 ?? plan.old.ipv6}). If that address is in Postfix's mynetworks, the new server becomes an open relay. ` +
        "Use relay.proxyProtocol: { 25: v2 } with postscreen_upstream_proxy_protocol = haproxy, or keep the old address out of mynetworks.",
    );
  }
}

function sameV6(a: string, b: string): boolean {
  return isIP(a) === 6 && isIP(b) === 6 && expandV6(a) === expandV6(b);
}

function expandV6(a: string): string {
  const [head = "", tail = ""] = a.toLowerCase().split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = a.includes("::") ? Array(8 - h.length - t.length).fill("0") : [];
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
      case "union":
        for (const o of def.options as unknown[]) visit(o, rest, value);
        return;
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
