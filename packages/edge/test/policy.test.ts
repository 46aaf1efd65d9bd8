import { RETRY, type ChangeSet } from "@cutover/core";
import { JOURNAL_OLD_TTL_MS, JOURNAL_STEPS, replayJournal } from "@cutover/testkit";
import { describe, expect, it } from "vitest";
import type { EdgePlanData, EdgeStepSpec } from "../src/index.js";
import {
  edgeDecide,
  emptyRow,
  rowDone,
  rowFailed,
  rowPolled,
  rowStarted,
  type StepRow,
} from "../src/worker/_policy.js";

const NO_CHANGES = { changes: [] } as unknown as ChangeSet;

function planOf(steps: EdgeStepSpec[], extra: Partial<EdgePlanData> = {}): EdgePlanData {
  return {
    version: 1,
    name: "t",
    provider: { name: "cloudflare", options: {} },
    zones: ["example.com"],
    originals: [],
    rollback: NO_CHANGES,
    steps,
    swapAfterLowerMs: JOURNAL_OLD_TTL_MS,
    retry: RETRY,
    plannedAt: "2027-11-29T13:00:00.000Z",
    ...extra,
  };
}

describe("the Durable Object's schedule follows core's nextAction", () => {
  it("the shared journal: its rows and row changes make the same decisions as the CLI's runner (same table)", async () => {
    // The journal's watch is, at the edge, a DoH check.
    const plan = planOf(
      JOURNAL_STEPS.map((s): EdgeStepSpec => {
        const base = { id: s.id, at: Date.parse(s.at), summary: s.id };
        if (s.kind === "lower" || s.kind === "swap" || s.kind === "restore")
          return { ...base, kind: s.kind, changes: NO_CHANGES };
        return { ...base, kind: "check", check: { resolvers: [], targets: [] } };
      }),
    );
    const rows = new Map<string, StepRow>();
    const row = (id: string) => rows.get(id) ?? emptyRow(id);
    const { expected, got } = await replayJournal({
      act(a) {
        const now = Date.parse(a.at);
        const r = row(a.step);
        if (a.act === "start") rows.set(a.step, rowStarted(r, now));
        else if (a.act === "done") rows.set(a.step, rowDone(r, now, "{}"));
        else if (a.act === "poll") rows.set(a.step, rowPolled(r, Date.parse(a.until), "{}"));
        else {
          const step = edgeDecide(plan, row, now).due.find((s) => s.id === a.step)!;
          rows.set(a.step, rowFailed(plan, step, r, now, "503 from the provider"));
        }
      },
      decide: (at) => edgeDecide(plan, row, at.getTime()),
    });
    expect(got).toEqual(expected);
  });

  it("a drop done on the admin's machine before the upload holds the swap from when it was done", () => {
    const swapAt = Date.parse("2027-12-01T14:00:00Z");
    const plan = planOf([{ id: "swap", kind: "swap", at: swapAt, summary: "swap", changes: NO_CHANGES }], {
      lowerDoneAt: swapAt - 23 * 3_600_000,
    });
    const a = edgeDecide(plan, emptyRow, swapAt);
    expect(a.due).toEqual([]);
    expect(a.wakeAt).toBe(swapAt + 3_600_000);
    expect(edgeDecide(plan, emptyRow, swapAt + 3_600_000).due.map((s) => s.id)).toEqual(["swap"]);
  });
});
