import { describe, expect, it } from "vitest";
import { commandNamed, commands } from "../../src/commands/index.js";
import type { Deps } from "../../src/context.js";
import { runCli } from "../_run.js";

// `cutover --help` lists commands from their entries without loading them: each entry's line must be the
// command's own description, and each entry must load the command of its name.
describe("the command list", () => {
  const deps = { stdout: { write: () => true }, stderr: { write: () => true }, env: {}, cwd: "/" } as unknown as Deps;
  for (const entry of commands) {
    it(`${entry.name}: loads that command, described as listed`, async () => {
      const cmd = (await entry.load())(deps);
      expect(cmd.name()).toBe(entry.name);
      expect(cmd.description()).toBe(entry.description);
    });
  }

  it("finds the command a command line names, also after `help`", () => {
    expect(commandNamed(["plan", "x.yaml"])?.name).toBe("plan");
    expect(commandNamed(["help", "dns"])?.name).toBe("dns");
    expect(commandNamed(["--version"])).toBeUndefined();
    expect(commandNamed(["nosuch"])).toBeUndefined();
  });

  it("--help lists every command; a command's --help shows its own options", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    for (const entry of commands) expect(top.stdout).toContain(`  ${entry.name} `);
    const plan = await runCli(["help", "plan"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("--accept-risk");
    const typo = await runCli(["plna"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("(Did you mean plan?)");
  });
});
