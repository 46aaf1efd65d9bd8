import { afterEach, expect, test } from "vitest";
import { makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

test("a first tick late by less than the margin starts the run and lowers at once; later than that it refuses", async () => {
  // Lower due 2027-11-30T13:00:00Z (swap - 24h highest TTL - 1h margin).
  const move = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z" });
  cleanup.push(move.close);
  const late = await runCli(["tick", "--json"], { cwd: move.dir, now: new Date("2027-11-30T13:00:01Z") });
  expect(late.code, late.stderr).toBe(0);
  expect(JSON.parse(late.stdout).ran).toEqual([{ kind: "lower", status: "done" }]);
  expect(late.stderr).toContain("the TTL drop starts 1s after its time");
  const other = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z" });
  cleanup.push(other.close);
  const tooLate = await runCli(["tick"], { cwd: other.dir, now: new Date("2027-11-30T14:00:01Z") });
  expect(tooLate.code).toBe(1);
  expect(tooLate.stderr).toContain("which is already past");
});
