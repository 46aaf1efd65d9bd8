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

test("a tick in the watch does one round and exits without waiting; two ticks with every answer new finish it", async () => {
  const move = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z" });
  cleanup.push(move.close);
  const slept: number[] = [];
  const tick = (at: string) =>
    runCli(["tick", "--json"], {
      cwd: move.dir,
      now: new Date(at),
      sleep: async (ms) => void slept.push(ms),
    });
  for (const at of ["2027-11-29T10:00:00Z", "2027-11-30T13:00:00Z", "2027-12-01T13:45:00Z"])
    expect((await tick(at)).code).toBe(0);
  const atSwap = await tick("2027-12-01T14:00:00Z");
  expect(atSwap.code, atSwap.stderr).toBe(0);
  expect(JSON.parse(atSwap.stdout).ran.map((r: { kind: string }) => r.kind)).toEqual(["handover", "swap", "watch"]);
  // One round per tick (the tick before this change waited a round's interval, ~30 s, for a second one).
  expect(slept).toEqual([]);
  const state = () => JSON.parse(readFileSync(join(move.dir, ".cutover/move-test/state.json"), "utf8"));
  const watchRounds = () => (state().steps.watch?.result as { rounds?: number } | undefined)?.rounds ?? 0;
  expect(watchRounds()).toBe(1);
  let next = JSON.parse(atSwap.stdout).nextAt as string;
  let done = false;
  for (let i = 0; i < 5 && !done; i++) {
    // The DNS server reads the swapped zone files within its poll interval (50 ms).
    await new Promise((r) => setTimeout(r, 200));
    // The timer fires when the tick said the next round is due.
    const r = await tick(next);
    next = JSON.parse(r.stdout).nextAt;
    expect(r.code, r.stderr).toBe(0);
    expect(watchRounds()).toBe(i + 2);
    done = state().steps.watch.status === "done";
  }
  expect(done).toBe(true);
  expect(slept).toEqual([]);
});

test("a TTL drop done late holds the swap for the highest old TTL; status and --dry-run say so (one policy with the Worker)", async () => {
  // Lower due 2027-11-30T13:00:00Z; no runner woke until 2027-12-01T13:50Z: the drop lands 10 minutes before
  // the swap, while caches may hold the old address for 24 h. The swap waits until 24 h after the drop.
  const move = await makeMoveDir({ swapAt: "2027-12-01T14:00:00Z" });
  cleanup.push(move.close);
  const tick = (at: string, ...args: string[]) =>
    runCli(["tick", "--json", ...args], { cwd: move.dir, now: new Date(at) });
  expect((await tick("2027-11-29T10:00:00Z")).code).toBe(0);
  const late = await tick("2027-12-01T13:50:00Z");
  expect(late.code, late.stderr).toBe(0);
  expect(JSON.parse(late.stdout).ran.map((r: { kind: string }) => r.kind)).toEqual(["lower", "preflight"]);
  const atSwap = await tick("2027-12-01T14:00:05Z");
  expect(atSwap.code, atSwap.stderr).toBe(0);
  const out = JSON.parse(atSwap.stdout);
  expect(out.ran.map((r: { kind: string }) => r.kind)).toEqual(["handover"]);
  expect(out.nextAt).toBe("2027-12-02T13:50:00.000Z");
  const dry = await tick("2027-12-01T14:10:00Z", "--dry-run");
  expect(JSON.parse(dry.stdout).due).toEqual([]);
  const status = await runCli(["status"], { cwd: move.dir, now: new Date("2027-12-01T14:10:00Z") });
  expect(status.stdout).toMatch(
    /T0\s+2027-12-02 13:50:00Z in 23h40m\s+swap .*held until the highest old TTL has passed since the lower/,
  );
  const swapped = await tick("2027-12-02T13:50:00Z");
  expect(JSON.parse(swapped.stdout).ran.map((r: { kind: string }) => r.kind)).toContain("swap");
});
