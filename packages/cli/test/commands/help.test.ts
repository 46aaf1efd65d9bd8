import type { Command } from "@commander-js/extra-typings";
import { describe, expect, it } from "vitest";
import { commands } from "../../src/commands/index.js";
import type { Deps } from "../../src/context.js";
import { runCli } from "../_run.js";

// Every command is defined the same way (commands/_define.ts): its --help ends with examples and exit codes,
// it takes --json, a command that changes something takes --dry-run, and one that reads a plan takes it as
// FILE and as --plan FILE.
const deps = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd: "/" } as unknown as Deps;

/** Every command a user can run, as its words (`["dns", "swap"]`). */
async function leaves(): Promise<string[][]> {
  const out: string[][] = [];
  const walk = (cmd: Command<any, any, any>, path: string[]) => {
    if (cmd.commands.length === 0) out.push(path);
    for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
  };
  for (const entry of commands) walk((await entry.load())(deps), [entry.name]);
  return out;
}

const WRITES = new Set([
  "init",
  "run",
  "tick",
  "schedule",
  "rollback",
  "report",
  "archive",
  "dns lower-ttl",
  "dns swap",
  "dns restore",
  "dns rollback",
  "relay deploy",
  "relay start",
  "relay stop",
  "sync warm",
]);
const READS_PLAN = new Set([
  "plan",
  "run",
  "tick",
  "schedule",
  "status",
  "rollback",
  "report",
  "archive",
  "dns records",
  "dns lower-ttl",
  "dns swap",
  "dns restore",
  "dns rollback",
  "relay deploy",
  "relay start",
  "relay status",
  "relay stop",
  "relay logs",
  "relay script",
  "sync warm",
  "sync check",
]);

describe("every command's --help", async () => {
  const all = await leaves();

  it("covers every command the README lists", () => {
    expect(all.length).toBeGreaterThanOrEqual(26);
    for (const name of [...WRITES, ...READS_PLAN]) expect(all.map((p) => p.join(" "))).toContain(name);
  });

  for (const path of all) {
    const name = path.join(" ");
    it(`${name}: examples, exit codes, --json${WRITES.has(name) ? ", --dry-run" : ""}${READS_PLAN.has(name) ? ", FILE and --plan" : ""}`, async () => {
      const r = await runCli([...path, "--help"]);
      expect(r.code).toBe(0);
      const help = r.stdout;
      const examples = help.slice(help.indexOf("\nExamples:\n"));
      expect(examples).toMatch(new RegExp(`\\n  \\$ (\\S+ )*cutover ${name} `));
      const codes = help
        .slice(help.indexOf("\nExit codes:\n") + 1)
        .split("\n")
        .slice(1);
      expect(codes.some((l) => /^ {2}0 {3}\S/.test(l))).toBe(true);
      expect(codes.some((l) => /^ {2}2 {3}\S/.test(l))).toBe(true);
      expect(codes.some((l) => /^ {2}70 {2}a bug in cutover/.test(l))).toBe(true);
      expect(help).toMatch(/\n {2}--json {2,}\S/);
      if (WRITES.has(name)) expect(help).toMatch(/\n {2}--dry-run {2,}\S/);
      if (READS_PLAN.has(name)) {
        expect(help).toMatch(/^Usage: cutover .* \[file\]/m);
        expect(help).toMatch(/\n {2}--plan <file> {2,}\S/);
      }
    });
  }
});

describe("a plan given as FILE and as --plan", () => {
  it("the same file both ways is one plan; two different files are refused with exit 2", async () => {
    const same = await runCli(["plan", "nosuch.yaml", "--plan", "nosuch.yaml"]);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain("nosuch.yaml");
    for (const path of [["plan"], ["relay", "status"], ["dns", "swap"], ["relay", "logs"]]) {
      const r = await runCli([...path, "a.yaml", "--plan", "b.yaml"]);
      expect(r.code, path.join(" ")).toBe(2);
      expect(r.stderr).toContain("the plan file is given twice (a.yaml and --plan b.yaml)");
    }
  });
});

describe("--json errors", () => {
  it("a user's mistake with --json: one JSON line on stdout with the code, message and exit code; the text on stderr", async () => {
    const missing = await runCli(["plan", "nosuch.yaml", "--json"]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toEqual({
      error: { code: "E_PLAN_READ", message: expect.stringContaining("nosuch.yaml"), exitCode: 1 },
    });
    expect(missing.stderr).toContain("error: no plan file at nosuch.yaml");
    const usage = await runCli(["dns", "swap", "--json", "--bogus"]);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({
      error: { code: "commander.unknownOption", message: "unknown option '--bogus'", exitCode: 2 },
    });
    const twice = await runCli(["status", "a.yaml", "--plan", "b.yaml", "--json"]);
    expect(twice.code).toBe(2);
    expect(JSON.parse(twice.stdout).error).toMatchObject({ code: "E_USAGE", exitCode: 2 });
    // Without --json, stdout stays empty; after `--` it is not an option.
    expect((await runCli(["plan", "nosuch.yaml"])).stdout).toBe("");
  });
});
