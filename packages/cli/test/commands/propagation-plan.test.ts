import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlan, type LoadedPlan } from "../../src/plan/load.js";
import { hashPlanText, StateStore } from "../../src/state/store.js";
import { readPlanRecords } from "../../src/timeline/records.js";
import { makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";
import type { DnsRecord } from "@cutover/core";
import { discoverTargets } from "@cutover/core";

/**
 * `cutover propagation` with no names checks what the plan moves, name by name, through a real DNS server
 * serving the plan's zone files: before the move (the provider's records), after a swap by hand, and from a
 * run's journal.
 */
let move: Awaited<ReturnType<typeof makeMoveDir>>;
let loaded: LoadedPlan;
let originals: DnsRecord[];
const swapAt = "2027-12-08T14:00:00Z";
const now = new Date("2027-12-07T10:00:00Z");
const run = (...argv: string[]) => runCli(argv, { cwd: move.dir, now, sleep: async () => {} });

beforeAll(async () => {
  move = await makeMoveDir({ swapAt });
  // What a run would journal as the originals, read before anything changes.
  loaded = await loadPlan(undefined, { cwd: move.dir, now });
  const { records } = await readPlanRecords(loaded, {});
  const found = discoverTargets(records, { old: loaded.plan.old, new: loaded.plan.new });
  originals = [...found.targets, ...found.spf];
}, 30_000);
afterAll(async () => {
  await move?.close();
  if (move) rmSync(move.dir, { recursive: true, force: true });
});

describe("cutover propagation (what the plan moves)", () => {
  it("before the move: every moving name with its own expectation, OLD everywhere, exit 1", async () => {
    const r = await run("propagation", "--json");
    expect(r.code, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout);
    // One set per family and one per SPF record: each name is asked only what it has.
    expect(report.sets).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          names: expect.arrayContaining(["example.com", "www.example.com", "mail.example.com", "db.example.com"]),
          expect: ["127.0.0.1"],
          old: ["198.51.100.10"],
          types: ["A"],
        }),
        expect.objectContaining({
          names: expect.arrayContaining(["example.com", "www.example.com"]),
          expect: ["2001:db8::20"],
          types: ["AAAA"],
        }),
        expect.objectContaining({
          names: ["example.com"],
          types: ["TXT"],
          records: {
            TXT: {
              expect: ["v=spf1 mx ip4:198.51.100.10 ip4:127.0.0.1 ip6:2001:db8:10::10 ip6:2001:db8::20 -all"],
              old: ["v=spf1 mx ip4:198.51.100.10 ip6:2001:db8:10::10 -all"],
            },
          },
        }),
      ]),
    );
    const targets = report.latest.targets as Array<{ name: string; type: string; status: string }>;
    expect(targets.some((t) => t.name === "db.example.com" && t.type === "AAAA")).toBe(false);
    expect(new Set(targets.map((t) => t.status))).toEqual(new Set(["OLD"]));
    // Names that do not move are not asked.
    expect(targets.some((t) => t.name === "static.example.com")).toBe(false);

    const plain = await run("propagation", "--type", "A");
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/checking what move-test moves \(from zonefile \(no run has started\)\): .* A$/m);
    expect(plain.stdout).not.toMatch(/ AAAA/);
  });

  it("refuses what cannot be checked from a plan, with exit 2 and one clear line", async () => {
    const mx = await run("propagation", "--type", "MX");
    expect(mx.code).toBe(2);
    expect(mx.stderr).toMatch(/--type MX: the plan changes no MX record \(it changes A, AAAA, TXT\)/);
    const both = await run("propagation", "--expect", "203.0.113.20");
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--expect and --old go with names to check/);
    const missing = await runCli(["propagation", "--plan", "nope.yaml"], { cwd: move.dir, now });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no plan file at nope\.yaml/);
    const nowhere = await runCli(["propagation"], { cwd: join(move.dir, "zones"), now });
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/no plan file at cutover\.yaml.*\n.*or name what to check: cutover propagation/);
    const noExpect = await run("propagation", "www.example.com");
    expect(noExpect.code).toBe(2);
    expect(noExpect.stderr).toMatch(/say what is new with --expect/);
  });

  it("after the swap (by hand, then from the run's journal): every name and the SPF text NEW, exit 0", async () => {
    const swap = await runCli(["dns", "swap"], { cwd: move.dir, now });
    expect(swap.code, swap.stderr + swap.stdout).toBe(0);
    // The server reloads the changed zone file within its poll.
    let r = await run("propagation", "--json");
    for (let i = 0; i < 40 && r.code !== 0; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await run("propagation", "--json");
    }
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.propagated).toBe(true);
    expect(report.latest.authoritative.complete).toBe(true);
    expect(report.names).toEqual(expect.arrayContaining(["www.example.com", "mail.example.com", "db.example.com"]));

    // A run's journal: its originals say what moved (the provider, on the new addresses now, is not read).
    const store = new StateStore(join(move.dir, ".cutover/move-test"));
    await store.ensureDir();
    await store.append({
      at: now.toISOString(),
      type: "run.created",
      plan: "move-test",
      hash: hashPlanText(loaded.text),
      planInfo: {
        file: loaded.path,
        hash: hashPlanText(loaded.text),
        text: loaded.text,
        plannedAt: now.toISOString(),
        acceptRisk: false,
      },
      originals,
    });
    await store.append({ at: swapAt, type: "step.done", step: "swap" });
    const fromJournal = await run("propagation");
    expect(fromJournal.code, fromJournal.stdout + fromJournal.stderr).toBe(0);
    expect(fromJournal.stdout).toMatch(/checking what move-test moves \(from the journal of move-test\)/);
    expect(fromJournal.stdout).toMatch(/^propagated$/m);
  });
});
