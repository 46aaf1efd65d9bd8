import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, expect, test } from "vitest";
import { parse, stringify } from "yaml";
import { runCli } from "../_run.js";

/**
 * Property-based fuzzing of `cutover plan FILE` in-process (the real command: file checks, YAML, schema,
 * cross-field checks, the zone files read by the zonefile provider, the timeline, the JSON output).
 * A valid plan is mutated (wrong types, out-of-range and huge values, unicode, shell metacharacters in
 * string fields, unknown and duplicate keys, anchors and alias bombs, deep nesting) and the property is:
 * exit 0 with a timeline that keeps its invariants, or exit 1 with a plan error that names its line (or
 * the timeline's own refusal); never another exit code, never a stack trace, never past a time budget.
 * The seed and the shrunk case are printed on failure (fast-check's report); CUTOVER_FUZZ_SEED=<seed> replays
 * it, CUTOVER_FUZZ_RUNS changes the count.
 */

const examples = new URL("../../../../examples/", import.meta.url).pathname;
const NOW = "2027-11-29T10:00:00Z";
const RUNS = Number(process.env.CUTOVER_FUZZ_RUNS ?? 5000);
/** Far above what one case takes (milliseconds); it catches a hang or a quadratic blow-up, not slowness. */
const BUDGET_MS = 15_000;

const dir = mkdtempSync(join(tmpdir(), `cutover-plan-fuzz-${process.pid}-`));
cpSync(join(examples, "zones"), join(dir, "zones"), { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The example plan with every optional field present, so that every field gets mutated. */
const BASE = (() => {
  const plan = parse(readFileSync(join(examples, "colo-to-linode.yaml"), "utf8")) as Record<string, Json>;
  const p = plan as { [k: string]: { [k: string]: Json } };
  p.new!.hostKey = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
  p.dns!.batchSize = 100;
  p.dns!.maxChanges = 50;
  p.schedule!.preflightBefore = "15m";
  p.handover!.stopCommand = ["systemctl", "stop", "{service}"];
  p.relay!.listen = "198.51.100.10";
  p.relay!.workers = 2;
  p.propagation = {
    resolvers: ["9.9.9.9", "127.0.0.1:5353", "[::1]:5353", "https://dns.google/dns-query"],
    authoritative: { bootstrap: "127.0.0.1:53", nsAddresses: { "ns1.example.com": ["192.0.2.53"] }, parent: true },
    timeout: "2h",
    atlas: { probes: 50, countries: ["DE", "NL"] },
  };
  return plan as Json;
})();

/** Every path in the plan (to maps, lists and leaves). */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}
const PATHS = paths(BASE).filter((p) => p.length > 0);

const SHELL = [
  "; rm -rf /",
  "$(reboot)",
  "`id`",
  "a|b",
  "a && b",
  "../../etc/passwd",
  "-rf",
  "--now",
  "x\ny",
  "'\"",
  "{zone}",
];
const strings = fc.oneof(
  fc.constantFrom(...SHELL),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("999.1.1.1", "fe80::1%eth0", "::", "0.0.0.0", "255.255.255.255", "1.2.3.4:70000", "[::1]:0"),
  fc.constantFrom("javascript:alert(1)", "file:///etc/passwd", "http://", "https://u:p@x.example/", "root@host:99999"),
  fc.constantFrom("100000000d", "9007199254740993s", "0s", "0", "1.5h", "1h30m", "365d", "366d", "-1h", "1e9s"),
  fc.constantFrom("2027-12-01 14:00", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "2026-02-30T00:00:00Z"),
  fc.constantFrom("__proto__", "constructor", "prototype", "/dev/urandom", "/dev/zero", ".", "/"),
  fc.nat({ max: 20 }).map((n) => "x".repeat(n * 500)),
);
const values: fc.Arbitrary<Json> = fc.oneof(
  strings,
  fc.integer(),
  fc.constantFrom(0, -1, 65536, 2 ** 31, 2 ** 53 + 1, 1e308, 0.5, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(strings, fc.integer()), { maxLength: 5 }),
  fc.dictionary(fc.oneof(strings, fc.constantFrom("__proto__", "80", "25")), fc.oneof(strings, fc.integer()), {
    maxKeys: 4,
  }),
);

type Mutation =
  | { kind: "set"; path: (string | number)[]; value: Json }
  | { kind: "delete"; path: (string | number)[] }
  | { kind: "addKey"; path: (string | number)[]; key: string; value: Json };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), path: fc.constantFrom(...PATHS), value: values }),
  fc.record({ kind: fc.constant("delete" as const), path: fc.constantFrom(...PATHS) }),
  fc.record({
    kind: fc.constant("addKey" as const),
    path: fc.constantFrom([], ...PATHS),
    key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom("margn", "ports", "__proto__", "constructor")),
    value: values,
  }),
);

function apply(base: Json, m: Mutation): Json {
  const root = structuredClone(base);
  const parentPath = m.kind === "addKey" ? m.path : m.path.slice(0, -1);
  let node: Json = root;
  for (const seg of parentPath) {
    if (node === null || typeof node !== "object") return root;
    node = (node as Record<string, Json>)[seg as string] as Json;
  }
  if (node === null || typeof node !== "object") return root;
  const obj = node as Record<string | number, Json>;
  if (m.kind === "addKey") {
    if (!Array.isArray(obj)) Object.defineProperty(obj, m.key, { value: m.value, enumerable: true, writable: true });
  } else if (m.kind === "set") obj[m.path.at(-1)!] = m.value;
  else if (Array.isArray(obj)) obj.splice(Number(m.path.at(-1)), 1);
  else delete obj[m.path.at(-1)!];
  return root;
}

/** Changes made to the YAML text itself: what an object cannot express. */
const textEdit = fc.oneof(
  { arbitrary: fc.constant((t: string) => t), weight: 12 },
  // a key given twice
  fc.nat().map((n) => (t: string) => {
    const lines = t.split("\n");
    const i = n % lines.length;
    return [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)].join("\n");
  }),
  // a billion-laughs bomb, at the top or inside a list
  fc.constantFrom("laughs", "stopServices").map((where) => (t: string) => {
    const bomb = ["&a [x,x,x,x,x,x,x,x,x]", "&b [*a,*a,*a,*a,*a,*a,*a,*a,*a]", "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b]"];
    if (where === "laughs")
      return `${t}\nl1: ${bomb[0]}\nl2: ${bomb[1]}\nl3: ${bomb[2]}\nl4: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`;
    return t
      .replace(/stopServices:.*\n/, `stopServices: [${Array(60).fill("*s").join(",")}]\n`)
      .replace(/^name:/m, "s0: &s x\nname:");
  }),
  // an alias to an anchor never set, and a chain of aliases
  fc.constant((t: string) => `${t}\nzz: *nowhere\n`),
  fc.constant(
    (t: string) =>
      `a0: &a0 x\n${Array.from({ length: 200 }, (_, i) => `a${i + 1}: &a${i + 1} [*a${i}]`).join("\n")}\n${t}`,
  ),
  // deep nesting, as flow and as block
  fc.integer({ min: 1, max: 100_000 }).map((n) => (t: string) => `${t}\ndeep: ${"[".repeat(n)}${"]".repeat(n)}\n`),
  fc
    .integer({ min: 1, max: 300 })
    .map((n) => (t: string) => `${t}\n${Array.from({ length: n }, (_, i) => `${" ".repeat(i)}k:`).join("\n")} 1\n`),
  // truncation anywhere
  fc.nat().map((n) => (t: string) => t.slice(0, n % (t.length + 1))),
);

interface Step {
  kind: string;
  at: string;
  deadline?: string;
}

function checkTimeline(out: string): void {
  const data = JSON.parse(out) as { swapAt: string; steps: Step[] };
  const swap = Date.parse(data.swapAt);
  expect(Number.isFinite(swap)).toBe(true);
  let prev = -Infinity;
  for (const s of data.steps) {
    const at = Date.parse(s.at);
    expect(Number.isFinite(at), `${s.kind} at ${s.at}`).toBe(true);
    expect(at).toBeGreaterThanOrEqual(prev); // in order
    prev = at;
    if (s.kind === "lower" || s.kind === "preflight") expect(at).toBeLessThanOrEqual(swap);
    if (s.kind === "swap" || s.kind === "handover") expect(at).toBe(swap);
    if (s.kind === "drain") {
      expect(at).toBeGreaterThan(swap); // quiet 0 is refused
      expect(Date.parse(s.deadline!)).toBeGreaterThanOrEqual(at);
    }
    if (s.kind === "restore") expect(at).toBeGreaterThan(swap);
  }
  expect(data.steps.filter((s) => s.kind === "swap")).toHaveLength(1);
}

test(`cutover plan: ${RUNS} mutated plans give a timeline or a plan error with its line`, async () => {
  let n = 0;
  const tally = { accepted: 0, planError: 0, refused: 0 };
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { maxLength: 3 }), textEdit, async (mutations, edit) => {
      const plan = mutations.reduce(apply, BASE);
      const text = edit(stringify(plan, { aliasDuplicateObjects: false, lineWidth: 0 }));
      const file = `p${n++ % 8}.yaml`;
      writeFileSync(join(dir, file), text);
      const started = Date.now();

      const r = await runCli(["plan", file, "--now", NOW, "--json"], { cwd: dir, now: new Date(NOW) });
      expect(Date.now() - started, "time budget").toBeLessThan(BUDGET_MS);

      expect(r.stderr).not.toMatch(/\n\s+at |bug in cutover/);
      expect([0, 1], r.stderr).toContain(r.code);
      if (r.code === 0) {
        tally.accepted++;
        checkTimeline(r.stdout);
        return;
      }
      const errors = r.stderr.replace(/^warning: .*\n/gm, "");
      if (new RegExp(`^error: ${file} has \\d+ problems?:\\n {2}${file}:\\d+:\\d+ `).test(errors)) {
        tally.planError++;
      } else {
        // Refusals that are not about a line: the timeline's ("nothing to move", "too late") or a file's.
        expect(errors, r.stderr).toMatch(new RegExp(`^error: (${file}: |\\[zonefile\\] |${file} is )`));
        tally.refused++;
      }
    }),
    { numRuns: RUNS, ...(process.env.CUTOVER_FUZZ_SEED ? { seed: Number(process.env.CUTOVER_FUZZ_SEED) } : {}) },
  );
  // The mutations reach every outcome (a generator that only ever produced YAML errors would test little).
  expect(tally.accepted).toBeGreaterThan(RUNS / 50);
  expect(tally.planError).toBeGreaterThan(RUNS / 4);
}, 600_000);
