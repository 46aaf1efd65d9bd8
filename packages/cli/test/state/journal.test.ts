import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseZoneFile } from "@cutover/dns";
import { afterEach, describe, expect, test } from "vitest";
import { makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";
import { StateStore } from "../../src/state/store.js";

const SWAP = "2027-12-01T14:00:00Z";
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

const records = (text: string) =>
  parseZoneFile(text, { origin: "example.com" })
    .entries.map((e) => e.record)
    .filter((r) => r.type !== "SOA");

async function lowered() {
  const move = await makeMoveDir({ swapAt: SWAP });
  cleanup.push(move.close);
  const at = (iso: string) => ({ cwd: move.dir, now: new Date(iso), sleep: async () => {} });
  const original = move.zone("example.com");
  expect((await runCli(["tick"], at("2027-11-29T10:00:00Z"))).code).toBe(0);
  expect((await runCli(["tick"], at("2027-11-30T13:00:20Z"))).code).toBe(0);
  const dir = join(move.dir, ".cutover/move-test");
  const events = () =>
    readFileSync(join(dir, "events.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; step?: string; originals?: Array<{ ttl: number }> });
  const state = () => JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as Record<string, unknown>;
  return { move, at, dir, events, state, original };
}

describe("the journal is the truth; state.json is its cache", () => {
  test("the warm sync's events are a step's like any other: the journal and state.json load with them", async () => {
    // The journal's list of steps once left out the sync step: a plan with `sync:` journaled `step.start sync`
    // and every later command called its own journal damaged (line N: not a journal event).
    const { dir, state } = await lowered();
    const at = "2027-11-30T13:05:00.000Z";
    const lines = [
      { at, type: "step.start", step: "sync", attempt: 1 },
      { at, type: "step.done", step: "sync", result: { copied: 3 } },
    ];
    writeFileSync(join(dir, "events.jsonl"), lines.map((l) => `${JSON.stringify(l)}\n`).join(""), { flag: "a" });
    const loaded = await new StateStore(dir).load();
    expect(loaded.state?.steps.sync).toMatchObject({ status: "done", attempts: 1, result: { copied: 3 } });
    expect(loaded.rebuilt).toMatch(/behind the journal/);
    // The cache written with the sync step in it is read back as it is (not called damaged and rebuilt).
    expect((state().steps as Record<string, unknown>).sync).toMatchObject({ status: "done" });
    expect((await new StateStore(dir).load()).rebuilt).toBeUndefined();
  });

  test("state.json moved away after the lower: rebuilt from events.jsonl, the originals stay the originals", async () => {
    const { move, at, dir, events, state, original } = await lowered();
    const originals = events()[0]!.originals!;
    expect(originals.some((o) => o.ttl === 3600)).toBe(true);
    renameSync(join(dir, "state.json"), join(dir, "state.json.bak"));
    const t = await runCli(["tick", "--json"], at("2027-11-30T14:00:00Z"));
    expect(t.code).toBe(0);
    expect(t.stderr).toContain("state.json was missing; rebuilt from the journal");
    expect(JSON.parse(t.stdout).ran).toEqual([]);
    // No second run: one run.created, the lower done once, the originals as first read.
    expect(events().filter((e) => e.type === "run.created")).toHaveLength(1);
    expect(events().filter((e) => e.type === "step.done" && e.step === "lower")).toHaveLength(1);
    expect(state().originals).toEqual(originals);
    // Rolling back puts the true TTLs back (3600, not the lowered 300).
    const before = JSON.parse(readFileSync(join(dir, "state.json.bak"), "utf8")) as { originals: unknown };
    expect(before.originals).toEqual(originals);
    const r = await runCli(["rollback"], at("2027-11-30T14:00:00Z"));
    expect(r.code).toBe(0);
    expect(records(move.zone("example.com"))).toEqual(records(original));
  });

  test("a state.json of the wrong shape is rebuilt (not exit 70); without a journal it is a clear error", async () => {
    const { at, dir, state } = await lowered();
    const good = state();
    for (const bad of ['{"version":1}', "[]", '{"version":1,"name":"x","steps":"no"}', "null"]) {
      writeFileSync(join(dir, "state.json"), bad);
      const s = await runCli(["status", "--offline", "--json"], at("2027-11-30T14:00:00Z"));
      expect({ bad, code: s.code }).toEqual({ bad, code: 0 });
      expect(s.stderr).toContain("state.json was damaged");
      const t = await runCli(["tick"], at("2027-11-30T14:00:00Z"));
      expect({ bad, code: t.code }).toEqual({ bad, code: 0 });
      expect({ ...state(), updatedAt: 0 }).toEqual({ ...good, updatedAt: 0 });
    }
    renameSync(join(dir, "events.jsonl"), join(dir, "events.jsonl.bak"));
    writeFileSync(join(dir, "state.json"), '{"version":1,"steps":[]}');
    const t = await runCli(["tick"], at("2027-11-30T14:00:00Z"));
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("is damaged and there is no journal to rebuild it from");
    expect(t.stderr).toMatch(/name: /);
    expect(t.stderr).not.toMatch(/\n\s+at /);
  });

  test("a damaged events.jsonl is a clear error naming the line; nothing is changed and no run starts over it", async () => {
    const { move, at, dir } = await lowered();
    const path = join(dir, "events.jsonl");
    const lines = readFileSync(path, "utf8").split("\n");
    lines.splice(2, 0, "garbage{{", '{"no":"event"}');
    writeFileSync(path, lines.join("\n"));
    const zone = move.zone("example.com");
    const t = await runCli(["tick"], at("2027-12-01T14:00:05Z"));
    expect(t.code).toBe(1);
    expect(t.stderr).toContain(`the journal ${path} is damaged`);
    expect(t.stderr).toContain("line 3: not JSON");
    expect(t.stderr).toContain("line 4: not a journal event");
    expect(t.stderr).toContain("do not delete it");
    expect(move.zone("example.com")).toBe(zone);
    // A journal that does not start with the run's creation is never replaced by a new run.
    writeFileSync(path, '{"at":"2027-11-30T13:00:00Z","type":"step.start","step":"lower"}\n');
    const t2 = await runCli(["tick"], at("2027-12-01T14:00:05Z"));
    expect(t2.code).toBe(1);
    expect(t2.stderr).toContain("does not start with the run's creation");
    expect(move.zone("example.com")).toBe(zone);
  });

  test("a last line cut by a crash mid-append is dropped and cut off; the run goes on", async () => {
    const { at, dir, events } = await lowered();
    const path = join(dir, "events.jsonl");
    writeFileSync(path, `${readFileSync(path, "utf8")}{"at":"2027-11-30T13:01:00Z","type":"step.st`);
    const t = await runCli(["tick"], at("2027-11-30T14:00:00Z"));
    expect(t.code).toBe(0);
    expect(t.stderr).toContain("last line");
    expect(readFileSync(path, "utf8").endsWith("\n")).toBe(true);
    expect(events().at(-1)!.type).not.toBe("step.st");
  });

  test("killed between the journal and the state write: the step is done once, never run again", async () => {
    const { at, dir, events, state } = await lowered();
    // state.json as it was before the lower's step.done reached it.
    const s = state() as { steps: Record<string, { status: string }> };
    s.steps.lower!.status = "running";
    writeFileSync(join(dir, "state.json"), JSON.stringify(s));
    const t = await runCli(["tick", "--json"], at("2027-11-30T14:00:00Z"));
    expect(t.code).toBe(0);
    expect(t.stderr).toContain("was behind the journal");
    expect(JSON.parse(t.stdout).ran).toEqual([]);
    expect(
      events()
        .filter((e) => e.step === "lower")
        .map((e) => e.type),
    ).toEqual(["step.start", "step.done"]);
  });

  test("a lock held by a live runner: exit 75; a damaged lock file: exit 75 with how to clear it, not taken over", async () => {
    const { at, dir } = await lowered();
    const lock = join(dir, "lock");
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), command: "run", since: "x" }));
    const held = await runCli(["tick"], at("2027-11-30T14:00:00Z"));
    expect(held.code).toBe(75);
    expect(held.stderr).toContain(`another cutover runner holds this plan: pid ${process.pid}`);
    writeFileSync(lock, "\u0000\u0000garbage");
    const damaged = await runCli(["tick"], at("2027-11-30T14:00:00Z"));
    expect(damaged.code).toBe(75);
    expect(damaged.stderr).toContain("is damaged");
    expect(damaged.stderr).toContain(`rm ${lock}`);
    expect(readFileSync(lock, "utf8")).toBe("\u0000\u0000garbage");
  });

  test("only `cutover archive --confirm NAME` sets a run aside; the archived journal keeps its originals", async () => {
    const { move, at, dir } = await lowered();
    const no = await runCli(["archive"], at("2027-11-30T14:00:00Z"));
    expect(no.code).toBe(1);
    expect(no.stderr).toContain("--confirm move-test");
    const dry = await runCli(["archive", "--dry-run", "--json"], at("2027-11-30T14:00:00Z"));
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ archived: `${dir}.archived-2027-11-30T14-00-00-000Z`, dryRun: true });
    expect(existsSync(join(dir, "events.jsonl"))).toBe(true);
    const wrong = await runCli(["archive", "--confirm", "other"], at("2027-11-30T14:00:00Z"));
    expect(wrong.code).toBe(1);
    expect(existsSync(join(dir, "events.jsonl"))).toBe(true);
    const ok = await runCli(["archive", "--confirm", "move-test"], at("2027-11-30T14:00:00Z"));
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("starts a NEW run");
    expect(existsSync(dir)).toBe(false);
    const archived = readdirSync(join(move.dir, ".cutover")).filter((d) => d.startsWith("move-test.archived-"));
    expect(archived).toHaveLength(1);
    expect(existsSync(join(move.dir, ".cutover", archived[0]!, "events.jsonl"))).toBe(true);
    expect(existsSync(join(move.dir, ".cutover", archived[0]!, "lock"))).toBe(false);
  });
});
