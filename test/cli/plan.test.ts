import { expect, test } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cutover } from "../_spawn.js";

test("the built binary plans the example and refuses a broken plan with line numbers", async () => {
  const ok = await cutover(["plan", "examples/colo-to-linode.yaml", "--now", "2027-11-29T10:00:00Z"]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain("T0     2027-12-01 14:00Z");
  expect(ok.stdout).toContain("swap 10 records → 203.0.113.20, 2001:db8::20");

  const help = await cutover(["plan", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Examples:");

  const empty = join(await mkdtemp(join(tmpdir(), "cutover-plan-")), "empty.yaml");
  await writeFile(empty, "");
  const bad = await cutover(["plan", empty]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/empty\.yaml:1:1 name: is required/);
  expect(bad.stderr).not.toMatch(/\n\s+at /);

  // Not a regular file: refused before it is read (a device could be read forever).
  const device = await cutover(["plan", "/dev/null"]);
  expect(device.code).toBe(1);
  expect(device.stderr).toMatch(/\/dev\/null is a character device, not a plan file/);
});
