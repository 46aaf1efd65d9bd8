import { expect, test } from "vitest";
import { applyEvent, replayEvents, resultOf, type JournalEvent } from "../../src/journal/index.js";

const record = {
  id: "1",
  zone: "example.com",
  name: "www.example.com",
  type: "A",
  content: "198.51.100.10",
  ttl: 3600,
};
const at = (m: number) => new Date(Date.UTC(2027, 11, 1, 12, m)).toISOString();

// The fold is the one place that says what an event means: the CLI's state.json is this replay.
test("a journal folds into the run's state: attempts, retries, a poll, a result typed by its step", () => {
  const events: JournalEvent[] = [
    { at: at(0), type: "run.created", plan: "demo", hash: "h", originals: [record] },
    { at: at(1), type: "step.start", step: "lower", attempt: 1 },
    { at: at(2), type: "step.retry", step: "lower", error: "429", attempt: 1 },
    { at: at(3), type: "step.start", step: "lower", attempt: 2 },
    {
      at: at(4),
      type: "step.done",
      step: "lower",
      result: { records: [{ ...record, status: "applied", before: record, after: { ...record, ttl: 300 } }] },
    },
    { at: at(5), type: "step.start", step: "watch", attempt: 1 },
    { at: at(6), type: "step.progress", step: "watch", result: { summary: "3/5 new" }, next: at(7) },
  ];
  const state = replayEvents(events)!;
  expect(state.originals).toEqual([record]);
  expect(state.steps.lower).toMatchObject({ status: "done", attempts: 2, startedAt: at(1), doneAt: at(4) });
  expect(state.steps.lower?.error).toBeUndefined();
  expect(resultOf(state, "lower")?.records?.[0]?.status).toBe("applied");
  expect(state.steps.watch).toMatchObject({ status: "pending", attempts: 0, nextPollAt: at(7) });
  expect(resultOf(state, "watch")?.summary).toBe("3/5 new");
  // Nothing before run.created: no state to fold into.
  expect(applyEvent(undefined, { at: at(0), type: "step.start", step: "lower", attempt: 1 })).toBeUndefined();
});
