import { expect, test } from "vitest";
import { cutover } from "../_spawn.js";

test("the built binary plans the example and refuses a broken plan with line numbers", async () => {
  const ok = await cutover(["plan", "examples/colo-to-linode.yaml", "--now", "2026-11-29T10:00:00Z"]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain("T0     2026-12-01 14:00Z");
  expect(ok.stdout).toContain("swap 10 records → 203.0.113.20, 2001:db8::20");

  const help = await cutover(["plan", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Examples:");

  const bad = await cutover(["plan", "/dev/null"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/\/dev\/null:1:1 name: is required/);
  expect(bad.stderr).not.toMatch(/\n\s+at /);
});
