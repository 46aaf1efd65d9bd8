import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

test("times in the plan's timezone or --tz in plan, tick and status; UTC by default, in --json and in the journal", async () => {
  const move = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z", extra: "timezone: Europe/Berlin\n" });
  cleanup.push(move.close);
  const plan = await runCli(["plan", "--tz", "America/New_York"], {
    cwd: move.dir,
    now: new Date("2027-11-29T10:00:00Z"),
  });
  expect(plan.code).toBe(0);
  expect(plan.stdout).toMatch(/2027-12-01 14:00Z\s+\(Wed, 09:00 GMT-5\)/);
  const tick = await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
  expect(tick.code).toBe(0);
  // The plan's timezone: 13:00Z is 14:00 in Berlin.
  expect(tick.stdout).toMatch(/^2027-11-30 14:00:00 CET {2}lower: /m);
  expect(tick.stdout).toMatch(/next: 2027-12-01 14:45 CET/);
  const st = await runCli(["status", "--offline", "--tz", "America/New_York"], {
    cwd: move.dir,
    now: new Date("2027-11-30T13:05:00Z"),
  });
  expect(st.stdout).toContain("done 2027-11-30 08:00:00 EST");
  const utc = await runCli(["status", "--offline", "--tz", "UTC"], {
    cwd: move.dir,
    now: new Date("2027-11-30T13:05:00Z"),
  });
  expect(utc.stdout).toContain("done 2027-11-30 13:00:00Z");
  const json = JSON.parse(
    (await runCli(["status", "--offline", "--json"], { cwd: move.dir, now: new Date("2027-11-30T13:05:00Z") })).stdout,
  );
  expect(json.steps[0].doneAt).toBe("2027-11-30T13:00:00.000Z");
  expect(readFileSync(join(move.dir, ".cutover/move-test/events.jsonl"), "utf8")).toContain(
    '"at":"2027-11-30T13:00:00.000Z"',
  );
  const bad = await runCli(["status", "--offline", "--tz", "Europe/Atlantis"], { cwd: move.dir });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--tz Europe/Atlantis: not a time zone");
  const badPlan = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z", extra: "timezone: Mars/Base\n" });
  cleanup.push(badPlan.close);
  const p = await runCli(["plan"], { cwd: badPlan.dir, now: new Date("2027-11-29T10:00:00Z") });
  expect(p.code).toBe(1);
  expect(p.stderr).toMatch(/timezone: "Mars\/Base" is not a time zone/);
});
