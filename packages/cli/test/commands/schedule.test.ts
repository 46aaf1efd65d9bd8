import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";

const SWAP = "2027-12-01T14:00:00Z";
const NOW = new Date("2027-11-29T10:00:00Z");
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe("cutover schedule --with systemd", () => {
  test("--print shows a service and timers at every step time, checked by systemd-analyze", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const r = await runCli(["schedule", "--with", "systemd", "--print", "--json"], { cwd: move.dir, now: NOW });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data.calendars).toEqual([
      "2027-11-30 13:00:00 UTC",
      "2027-12-01 13:45:00 UTC",
      "2027-12-01 14:00:00 UTC",
      "2027-12-01 14:30:00 UTC",
      "2027-12-02 14:00:00 UTC",
    ]);
    const timer = data.files["cutover-move-test.timer"] as string;
    expect(timer).toContain("OnCalendar=2027-12-01 14:00:00 UTC");
    expect(timer).toContain("Persistent=true");
    const service = data.files["cutover-move-test.service"] as string;
    expect(service).toMatch(
      /ExecStart=\S+node\S* \S+cli\.(js|ts) tick \S+cutover\.yaml --state \S+\.cutover\/move-test/,
    );
    for (const c of data.calendars) execFileSync("systemd-analyze", ["calendar", c]); // throws if systemd disagrees
    // --print changes nothing: no journal is started (an edited plan is not then refused by `run`).
    expect(existsSync(join(move.dir, ".cutover"))).toBe(false);
    const dry = await runCli(["schedule", "--with", "at", "--dry-run"], { cwd: move.dir, now: NOW });
    expect(dry.code).toBe(0);
    expect(existsSync(join(move.dir, ".cutover"))).toBe(false);
  });

  test("writes the units and a 0600 environment file with the credentials, and removes them again", async () => {
    const move = await makeMoveDir({
      swapAt: SWAP,
      extra: `notify:\n  webhook: { url: "http://127.0.0.1:9/hook", secretEnv: HOOK_SECRET }\n`,
    });
    cleanup.push(move.close);
    const dir = mkdtempSync(join(tmpdir(), "cutover-units-"));
    const secret = 's3cr3t "with" $quotes';
    const r = await runCli(["schedule", "--with", "systemd", "--unit-dir", dir, "--no-start"], {
      cwd: move.dir,
      now: NOW,
      env: { HOOK_SECRET: secret },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain("s3cr3t");
    expect(r.stdout).toMatch(/the service reads HOOK_SECRET from \S+tick\.env \(0600\)/);
    // A timer does not have this shell's environment: the service reads the credentials from the file.
    const envFile = join(move.dir, ".cutover/move-test/tick.env");
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(envFile, "utf8")).toContain('HOOK_SECRET="s3cr3t \\"with\\" \\$quotes"');
    expect(readFileSync(join(dir, "cutover-move-test.service"), "utf8")).toContain(`EnvironmentFile=-${envFile}`);
    // The poll timer fires every minute from the swap's hour to the drain's deadline (72 h), not from now.
    const poll = readFileSync(join(dir, "cutover-move-test-poll.timer"), "utf8");
    expect(poll.match(/^OnCalendar=.*$/gm)).toEqual([
      "OnCalendar=2027-12-01 14..23:*:00 UTC",
      "OnCalendar=2027-12-02 *:*:00 UTC",
      "OnCalendar=2027-12-03 *:*:00 UTC",
      "OnCalendar=2027-12-04 00..14:*:00 UTC",
    ]);
    for (const c of poll.match(/(?<=^OnCalendar=).*$/gm) ?? []) execFileSync("systemd-analyze", ["calendar", c]);
    // The journal started: the originals are saved before anything is armed.
    expect(existsSync(join(move.dir, ".cutover/move-test/state.json"))).toBe(true);
    const rm = await runCli(["schedule", "--with", "systemd", "--unit-dir", dir, "--no-start", "--remove"], {
      cwd: move.dir,
      now: NOW,
    });
    expect(rm.code).toBe(0);
    expect(existsSync(join(dir, "cutover-move-test.timer"))).toBe(false);
    expect(existsSync(envFile)).toBe(false);
  });
});

describe("cutover schedule --with at", () => {
  test("queues one at job per step time and removes them", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const printed = await runCli(["schedule", "--with", "at", "--print"], { cwd: move.dir, now: NOW });
    expect(printed.stdout).toContain("TZ=UTC at -t 202712011400.00 <<'EOF'");
    expect(printed.stdout).toMatch(/tick \S+cutover\.yaml --state \S+ --rearm-at/);
    const first = await runCli(["schedule", "--with", "at", "--json"], { cwd: move.dir, now: NOW });
    expect(first.code, first.stderr).toBe(0);
    // Scheduling again replaces the queued jobs (found by their tag): one set per plan.
    const r = await runCli(["schedule", "--with", "at", "--json"], { cwd: move.dir, now: NOW });
    const data = JSON.parse(r.stdout);
    expect(data.replaced.sort()).toEqual(
      JSON.parse(first.stdout)
        .jobs.map((j: { id: string }) => j.id)
        .sort(),
    );
    // atd is checked and reported.
    if (data.atd) expect(r.stderr).toBe("");
    else expect(r.stderr).toContain("atd is not running on this machine");
    const jobs = data.jobs as Array<{ id: string; at: string }>;
    expect(jobs.map((j) => j.at)).toEqual([
      "2027-11-30T13:00:00.000Z",
      "2027-12-01T13:45:00.000Z",
      "2027-12-01T14:00:00.000Z",
      "2027-12-01T14:30:00.000Z",
      "2027-12-02T14:00:00.000Z",
    ]);
    const queued = execFileSync("atq", { encoding: "utf8" });
    for (const j of jobs) expect(queued).toMatch(new RegExp(`^${j.id}\\s`, "m"));
    for (const j of JSON.parse(first.stdout).jobs as Array<{ id: string }>)
      expect(queued).not.toMatch(new RegExp(`^${j.id}\\s`, "m"));
    // --remove finds every job of the plan even when schedule.json is gone, and checks the queue after.
    rmSync(join(move.dir, ".cutover/move-test/schedule.json"));
    const rm = await runCli(["schedule", "--with", "at", "--remove"], { cwd: move.dir, now: NOW });
    expect(rm.code).toBe(0);
    expect(rm.stdout).toContain("none of this plan is left in the queue");
    const after = execFileSync("atq", { encoding: "utf8" });
    for (const j of jobs) expect(after).not.toMatch(new RegExp(`^${j.id}\\s`, "m"));
  });

  test("no secret reaches the at spool: at copies its caller's environment into each job", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    // In this process's environment too: that is what at copied before.
    process.env.SOME_API_TOKEN = "tok-0123456789-secret";
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, SOME_API_TOKEN: process.env.SOME_API_TOKEN };
    const r = await runCli(["schedule", "--with", "at", "--json"], { cwd: move.dir, now: NOW, env }).finally(
      () => delete process.env.SOME_API_TOKEN,
    );
    expect(r.code, r.stderr).toBe(0);
    const ids = (JSON.parse(r.stdout).jobs as Array<{ id: string }>).map((j) => j.id);
    try {
      for (const id of ids) {
        const script = execFileSync("at", ["-c", id], { encoding: "utf8" });
        expect(script).not.toContain("tok-0123456789-secret");
        // The jobs read the plan's credentials from the 0600 environment file instead.
        expect(script).toContain(".cutover/move-test/tick.env");
      }
      expect(statSync(join(move.dir, ".cutover/move-test/tick.env")).mode & 0o777).toBe(0o600);
    } finally {
      await runCli(["schedule", "--with", "at", "--remove"], { cwd: move.dir, now: NOW });
    }
    expect(existsSync(join(move.dir, ".cutover/move-test/tick.env"))).toBe(false);
  });
});
