import type { NextAction, StepHold, StepKind, Wait } from "@cutover/core";

/**
 * One journal of a move, runner-agnostic, that every runner's tests replay through their own store (the CLI's
 * journal, the Worker's SQLite rows) and their own decision code, expecting the same decisions: core's
 * `nextAction` is the one policy, and this checks that each runner keeps and reads its state so that it is.
 * It holds a late TTL drop whose first attempt fails and is retried with backoff, the swap held after the
 * drop by the highest old TTL, steps blocked by a prerequisite, the watch polled, and an attempt cut short
 * by a crash.
 */
export interface JournalStep {
  id: string;
  kind: StepKind;
  at: string;
  hold?: StepHold;
}

/** Something a runner did (`start` an attempt; it ended `done`, `fail`ed, or asked to `poll` again at `until`). */
export type JournalAct =
  | { at: string; act: "start" | "done" | "fail"; step: string }
  | { at: string; act: "poll"; step: string; until: string };

/** What the policy must say at `at`: the due steps in order, each waiting step's reason, the wake time. */
export interface JournalExpect {
  at: string;
  due: string[];
  waiting: Record<string, string>;
  wakeAt: string | null;
  finished: boolean;
}

export type JournalEntry = JournalAct | JournalExpect;

export const isExpect = (e: JournalEntry): e is JournalExpect => "due" in e;

/** A wait in words, the way the table writes it: `time <iso>`, `retry <iso>`, `poll <iso>`, `hold <iso> after lower`, `step <id>`. */
export function describeWait(w: Wait): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  switch (w.for) {
    case "time":
    case "poll":
      return `${w.for} ${iso(w.until)}`;
    case "retry":
      return `retry ${iso(w.until)} after ${w.attempts}`;
    case "hold":
      return `hold ${iso(w.until)} after ${w.after}`;
    case "step":
      return `step ${w.step}`;
  }
}

export const JOURNAL_SWAP_AT = "2027-12-01T14:00:00.000Z";
/** The highest old TTL: the swap is held this long after the drop. */
export const JOURNAL_OLD_TTL_MS = 86_400_000;

export const JOURNAL_STEPS: JournalStep[] = [
  { id: "lower", kind: "lower", at: "2027-11-30T13:00:00.000Z" },
  { id: "swap", kind: "swap", at: JOURNAL_SWAP_AT, hold: { after: "lower", ms: JOURNAL_OLD_TTL_MS } },
  { id: "watch", kind: "watch", at: JOURNAL_SWAP_AT },
  { id: "restore", kind: "restore", at: "2027-12-02T14:00:00.000Z" },
];

export const JOURNAL: JournalEntry[] = [
  {
    at: "2027-11-30T12:00:00.000Z",
    due: [],
    waiting: {
      lower: "time 2027-11-30T13:00:00.000Z",
      swap: "step lower",
      watch: "step swap",
      restore: "step swap",
    },
    wakeAt: "2027-11-30T13:00:00.000Z",
    finished: false,
  },
  // The runner was down: the drop runs 90 minutes late (later than the margin), fails once, and is retried after the backoff.
  {
    at: "2027-11-30T14:30:00.000Z",
    due: ["lower"],
    waiting: { swap: "step lower", watch: "step swap", restore: "step swap" },
    wakeAt: "2027-11-30T13:00:00.000Z",
    finished: false,
  },
  { at: "2027-11-30T14:30:00.000Z", act: "start", step: "lower" },
  { at: "2027-11-30T14:30:02.000Z", act: "fail", step: "lower" },
  {
    at: "2027-11-30T14:30:03.000Z",
    due: [],
    waiting: {
      lower: "retry 2027-11-30T14:30:07.000Z after 1",
      swap: "step lower",
      watch: "step swap",
      restore: "step swap",
    },
    wakeAt: "2027-11-30T14:30:07.000Z",
    finished: false,
  },
  {
    at: "2027-11-30T14:30:07.000Z",
    due: ["lower"],
    waiting: { swap: "step lower", watch: "step swap", restore: "step swap" },
    wakeAt: "2027-11-30T14:30:07.000Z",
    finished: false,
  },
  { at: "2027-11-30T14:30:07.000Z", act: "start", step: "lower" },
  { at: "2027-11-30T14:30:08.000Z", act: "fail", step: "lower" },
  {
    at: "2027-11-30T14:30:09.000Z",
    due: [],
    waiting: {
      lower: "retry 2027-11-30T14:30:18.000Z after 2",
      swap: "step lower",
      watch: "step swap",
      restore: "step swap",
    },
    wakeAt: "2027-11-30T14:30:18.000Z",
    finished: false,
  },
  { at: "2027-11-30T14:30:18.000Z", act: "start", step: "lower" },
  { at: "2027-11-30T14:30:20.000Z", act: "done", step: "lower" },
  // The swap's time comes, but a cache may hold the old record for the old TTL after the late drop.
  {
    at: "2027-12-01T14:00:00.000Z",
    due: [],
    waiting: {
      swap: "hold 2027-12-01T14:30:20.000Z after lower",
      watch: "step swap",
      restore: "step swap",
    },
    wakeAt: "2027-12-01T14:30:20.000Z",
    finished: false,
  },
  { at: "2027-12-01T14:30:20.000Z", act: "start", step: "swap" },
  { at: "2027-12-01T14:30:21.000Z", act: "done", step: "swap" },
  {
    at: "2027-12-01T14:30:21.000Z",
    due: ["watch"],
    waiting: { restore: "time 2027-12-02T14:00:00.000Z" },
    wakeAt: "2027-12-01T14:00:00.000Z",
    finished: false,
  },
  // The watch does a round and asks to be run again in a minute.
  { at: "2027-12-01T14:30:21.000Z", act: "start", step: "watch" },
  { at: "2027-12-01T14:30:22.000Z", act: "poll", step: "watch", until: "2027-12-01T14:31:22.000Z" },
  {
    at: "2027-12-01T14:30:50.000Z",
    due: [],
    waiting: { watch: "poll 2027-12-01T14:31:22.000Z", restore: "time 2027-12-02T14:00:00.000Z" },
    wakeAt: "2027-12-01T14:31:22.000Z",
    finished: false,
  },
  { at: "2027-12-01T14:31:22.000Z", act: "start", step: "watch" },
  { at: "2027-12-01T14:31:23.000Z", act: "done", step: "watch" },
  {
    at: "2027-12-01T14:31:23.000Z",
    due: [],
    waiting: { restore: "time 2027-12-02T14:00:00.000Z" },
    wakeAt: "2027-12-02T14:00:00.000Z",
    finished: false,
  },
  // The runner is killed during the restore: the attempt never ended, so it is due again.
  { at: "2027-12-02T14:00:00.000Z", act: "start", step: "restore" },
  {
    at: "2027-12-02T14:01:00.000Z",
    due: ["restore"],
    waiting: {},
    wakeAt: "2027-12-02T14:00:00.000Z",
    finished: false,
  },
  { at: "2027-12-02T14:01:00.000Z", act: "start", step: "restore" },
  { at: "2027-12-02T14:01:01.000Z", act: "done", step: "restore" },
  { at: "2027-12-02T14:01:02.000Z", due: [], waiting: {}, wakeAt: null, finished: true },
];

/** A runner under test: it applies an act to its own store, and says what its own code decides at a time. */
export interface JournalRunner {
  act(a: JournalAct): void | Promise<void>;
  decide(at: Date): NextAction | Promise<NextAction>;
}

/** A decision in the table's words. */
export function decisionOf(at: string, a: NextAction): JournalExpect {
  return {
    at,
    due: a.due.map((s) => s.id),
    waiting: Object.fromEntries(a.waiting.map((w) => [w.step.id, describeWait(w.wait)])),
    wakeAt: a.wakeAt === undefined ? null : new Date(a.wakeAt).toISOString(),
    finished: a.finished,
  };
}

/** Replays `JOURNAL` through a runner; gives each expected decision beside the runner's. */
export async function replayJournal(
  runner: JournalRunner,
  journal: readonly JournalEntry[] = JOURNAL,
): Promise<{ expected: JournalExpect[]; got: JournalExpect[] }> {
  const expected: JournalExpect[] = [];
  const got: JournalExpect[] = [];
  for (const e of journal) {
    if (isExpect(e)) {
      expected.push(e);
      got.push(decisionOf(e.at, await runner.decide(new Date(e.at))));
    } else await runner.act(e);
  }
  return { expected, got };
}
