import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";

/** Every command that reads a plan takes it as FILE or as --plan FILE, the same way. */
let move: Awaited<ReturnType<typeof makeMoveDir>>;
const now = new Date("2027-12-07T10:00:00Z");

beforeAll(async () => {
  move = await makeMoveDir({ swapAt: "2027-12-08T14:00:00Z" });
  copyFileSync(join(move.dir, "cutover.yaml"), join(move.dir, "other.yaml"));
}, 30_000);
afterAll(async () => {
  await move?.close();
  if (move) rmSync(move.dir, { recursive: true, force: true });
});

const run = (...argv: string[]) => runCli(argv, { cwd: move.dir, now });

describe("the plan file, positional or --plan", () => {
  it.each([
    ["plan", "--json"],
    ["dns", "records", "--json"],
    ["dns", "swap", "--dry-run", "--json"],
  ])("cutover %s %s: FILE and --plan FILE say the same", async (...argv) => {
    const positional = await run(...argv, "other.yaml");
    const flag = await run(...argv, "--plan", "other.yaml");
    expect(positional.code, positional.stderr).toBe(0);
    expect(flag.code, flag.stderr).toBe(0);
    expect(flag.stdout).toBe(positional.stdout);
    // Neither: cutover.yaml.
    expect((await run(...argv)).code).toBe(0);
  });

  it("status and tick accept --plan too (no run yet: the same error either way)", async () => {
    const a = await run("status", "--plan", "other.yaml");
    const b = await run("status", "other.yaml");
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(b.stderr);
    expect(a.stderr).toMatch(/no run of move-test has started/);
  });

  it("two different plan files at once: a usage error, exit 2, nothing read", async () => {
    for (const argv of [
      ["plan", "other.yaml", "--plan", "cutover.yaml"],
      ["dns", "swap", "other.yaml", "--plan", "cutover.yaml"],
      ["run", "other.yaml", "--plan", "cutover.yaml"],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/the plan file is given twice \(other\.yaml and --plan cutover\.yaml\); give it once/);
    }
    // The same file twice is fine.
    expect((await run("plan", "other.yaml", "--plan", "other.yaml")).code).toBe(0);
  });
});
