import { createHash } from "node:crypto";
import { mkdir, open, readFile, chmod, truncate } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "@cutover/dns";
import { z } from "zod";
import { UserError } from "../errors.js";
import { failpoint } from "./failpoint.js";
import { STEP_KINDS, type StepKind, type ChangeOutcome, type DnsRecord } from "@cutover/core";

export type StepStatus = "pending" | "running" | "done" | "failed" | "skipped";

export interface StepState {
  status: StepStatus;
  attempts: number;
  startedAt?: string;
  doneAt?: string;
  error?: string;
  /** What the step found or did, for status and the report. */
  result?: unknown;
  /** An open-ended step (watch, drain) asked to be run again at this time. */
  nextPollAt?: string;
}

/** The snapshot of a run: everything needed to resume, restore or roll back without memory. */
export interface RunState {
  version: 1;
  name: string;
  plan: {
    file: string;
    hash: string;
    /** The plan text as accepted, to show what changed when it is edited. */
    text: string;
    /** The `now` the timeline was computed with (a resumed run plans from the same instant). */
    plannedAt: string;
    acceptRisk: boolean;
  };
  /** The moved records exactly as they were before any change: ids, TTLs, contents. */
  originals: DnsRecord[];
  steps: Partial<Record<StepKind, StepState>>;
  /** Set once the whole move has been rolled back. */
  rolledBack?: { at: string; outcomes: RollbackOutcome[] };
  createdAt: string;
  updatedAt: string;
}

/** A rolled-back record's outcome, as the journal keeps it. */
export type RollbackOutcome = Pick<ChangeOutcome, "status"> & {
  id?: string;
  name: string;
  type: string;
  error?: string;
};

/** The events of a step's attempts; `applyEvent` says what each does to the step's state. */
export type StepEvent =
  | { at: string; type: "step.start"; step: StepKind; attempt: number }
  | { at: string; type: "step.done"; step: StepKind; result?: unknown }
  /** An open-ended step (watch, drain) did a round: run it again at `next`. */
  | { at: string; type: "step.progress"; step: StepKind; result?: unknown; next: string }
  /** A failed attempt: tried again after the backoff (`retry`), or given up (`failed`); `records` as far as they got. */
  | {
      at: string;
      type: "step.retry" | "step.failed";
      step: StepKind;
      error: string;
      attempt: number;
      records?: unknown;
    }
  /** A person asked for a failed step to be tried again. */
  | { at: string; type: "step.retry-failed"; step: StepKind; error?: string | undefined };

/** The events of the run as a whole (no step). */
export type RunEvent = { step?: undefined } & (
  | {
      at: string;
      type: "run.created";
      plan: string;
      hash: string;
      /** The plan's details (absent in journals written before it was added: planned at creation). */
      planInfo?: RunState["plan"];
      originals: DnsRecord[];
    }
  | { at: string; type: "plan.accepted"; hash: string; text?: string; acceptRisk?: boolean; diff?: string }
  | { at: string; type: "rollback.start" | "rollback.edge-cancelled" }
  | { at: string; type: "rollback.dns" | "rollback.dns.partial" | "rollback.done"; outcomes: RollbackOutcome[] }
  | { at: string; type: "edge.deployed"; script: string; url: string; steps: string[] }
  | { at: string; type: "edge.removed"; script: string; removed: boolean }
);

/** One line of the journal: a union keyed by `type`. */
export type JournalEvent = StepEvent | RunEvent;

export function hashPlanText(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Where a plan's state lives: `--state DIR`, else `.cutover/NAME/` beside the plan file. */
export function stateDirFor(planPath: string, name: string, override?: string, cwd = process.cwd()): string {
  return override ? resolve(cwd, override) : join(dirname(planPath), ".cutover", name);
}

/**
 * A plan's journal: an append-only event log (JSON lines, fsynced) and an atomically written state
 * snapshot, both mode 0600 in a 0700 directory.
 */

const recordSchema = z.looseObject({
  id: z.string(),
  zone: z.string(),
  name: z.string(),
  type: z.string(),
  content: z.string(),
  ttl: z.number(),
});

const stepStateSchema = z.looseObject({
  status: z.enum(["pending", "running", "done", "failed", "skipped"]),
  attempts: z.number().int().nonnegative(),
  startedAt: z.string().optional(),
  doneAt: z.string().optional(),
  error: z.string().optional(),
  result: z.unknown().optional(),
  nextPollAt: z.string().optional(),
});

const planInfoSchema = z.object({
  file: z.string(),
  hash: z.string(),
  text: z.string(),
  plannedAt: z.string(),
  acceptRisk: z.boolean(),
});

const runStateSchema = z.looseObject({
  version: z.literal(1),
  name: z.string(),
  plan: planInfoSchema,
  originals: z.array(recordSchema),
  steps: z.partialRecord(z.enum(STEP_KINDS), stepStateSchema),
  rolledBack: z.looseObject({ at: z.string(), outcomes: z.array(z.unknown()) }).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const eventSchema = z.looseObject({
  at: z.string(),
  type: z.string(),
  step: z.enum(STEP_KINDS).optional(),
});

/** zod's issues as `path: message` lines. */
function issueLines(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(top)"}: ${i.message}`);
}

/** What `load` found: the run's state, and how it was obtained when the cache could not be used as it was. */
export interface LoadedState {
  state: RunState | undefined;
  /** Set when state.json was missing, damaged or behind the journal and was rebuilt from events.jsonl. */
  rebuilt?: string;
  /** Set when the journal's last line was cut by a crash mid-write and was dropped. */
  repaired?: string;
}

/**
 * Applies one journal event to a run's state: the one place that says what each event means, used both
 * live (so state.json is exactly what a replay gives) and to rebuild state.json from events.jsonl.
 */
export function applyEvent(state: RunState | undefined, e: JournalEvent): RunState | undefined {
  if (e.type === "run.created") {
    // A journal from before run.created carried the plan's details: planned at its creation.
    const plan = planInfoSchema.safeParse(e.planInfo).data ?? {
      file: "",
      hash: String(e.hash),
      text: "",
      plannedAt: e.at,
      acceptRisk: false,
    };
    return {
      version: 1,
      name: String(e.plan),
      plan: { ...plan },
      originals: structuredClone(e.originals as DnsRecord[]),
      steps: {},
      createdAt: e.at,
      updatedAt: e.at,
    };
  }
  if (!state) return state;
  state.updatedAt = e.at;
  const step = e.step ? (state.steps[e.step] ??= { status: "pending", attempts: 0 }) : undefined;
  switch (e.type) {
    case "plan.accepted":
      state.plan = {
        ...state.plan,
        hash: String(e.hash),
        ...(typeof e.text === "string" ? { text: e.text } : {}),
        ...(typeof e.acceptRisk === "boolean" ? { acceptRisk: e.acceptRisk } : {}),
      };
      break;
    case "step.start":
      if (!step) break;
      step.status = "running";
      step.attempts = typeof e.attempt === "number" ? e.attempt : step.attempts + 1;
      step.startedAt ??= e.at;
      break;
    case "step.done":
      if (!step) break;
      step.status = "done";
      step.doneAt = e.at;
      if (e.result === undefined) delete step.result;
      else step.result = structuredClone(e.result);
      delete step.error;
      delete step.nextPollAt;
      break;
    case "step.progress":
      if (!step) break;
      step.status = "pending";
      step.attempts = 0;
      step.result = structuredClone(e.result);
      step.nextPollAt = String(e.next);
      break;
    case "step.retry":
    case "step.failed":
      if (!step) break;
      step.status = e.type === "step.failed" ? "failed" : "pending";
      step.error = String(e.error);
      step.doneAt = e.at;
      if (typeof e.attempt === "number") step.attempts = e.attempt;
      if (e.records) step.result = { records: structuredClone(e.records) };
      break;
    case "step.retry-failed":
      if (!step) break;
      step.status = "pending";
      step.attempts = 0;
      delete step.doneAt;
      break;
    case "rollback.done":
      state.rolledBack = {
        at: e.at,
        outcomes: structuredClone(
          Array.isArray(e.outcomes) ? (e.outcomes as NonNullable<RunState["rolledBack"]>["outcomes"]) : [],
        ),
      };
      break;
  }
  return state;
}

/** The state a journal describes, replayed from its first event. */
export function replayEvents(events: readonly JournalEvent[]): RunState | undefined {
  let state: RunState | undefined;
  for (const e of events) state = applyEvent(state, e);
  return state;
}

/**
 * Two states say the same thing (the cache's own timestamp aside). Compared as JSON values with keys in
 * one order: the cache went through JSON and the schema (which puts known keys first), the replay did not,
 * so the same state can list its keys in another order (an ordinary run was reported "behind the journal").
 */
function sameState(a: RunState, b: RunState): boolean {
  return canonicalJson({ ...a, updatedAt: undefined }) === canonicalJson({ ...b, updatedAt: undefined });
}

/** JSON with every object's keys sorted (undefined members dropped, as JSON.stringify does). */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}

/**
 * A plan's journal: an append-only event log (JSON lines, fsynced) that is the truth, and a state snapshot
 * (state.json) that is a cache of it, written atomically after each event; both mode 0600 in a 0700
 * directory. Every change goes through `record`: the event first, then the snapshot.
 */
export class StateStore {
  readonly dir: string;
  readonly statePath: string;
  readonly eventsPath: string;
  readonly lockPath: string;
  private readonly observers: Array<(event: JournalEvent) => void> = [];

  constructor(dir: string) {
    this.dir = dir;
    this.statePath = join(dir, "state.json");
    this.eventsPath = join(dir, "events.jsonl");
    this.lockPath = join(dir, "lock");
  }

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  /** The run's state, or undefined when no run has started; see `load` for how it is obtained. */
  async read(): Promise<RunState | undefined> {
    return (await this.load()).state;
  }

  /**
   * Reads the run: the journal when there is one (state.json is rebuilt from it when missing, damaged or
   * behind it), else state.json alone (checked for its shape). A damaged journal is an error that says
   * which lines and what to do; it is never ignored and a new run is never started over it.
   */
  async load(options: { repair?: boolean } = {}): Promise<LoadedState> {
    const journal = await this.readJournal(options.repair !== false);
    const cached = await this.readCache();
    if (!journal) {
      if (cached.error) {
        throw new UserError(`the state file ${this.statePath} is damaged and there is no journal to rebuild it from`, {
          code: "E_STATE",
          details: [
            ...cached.error,
            `the original records are in it: restore it from a backup, or fix the lines above by hand`,
          ],
        });
      }
      return { state: cached.state };
    }
    const replayed = replayEvents(journal.events);
    if (!replayed) {
      throw new UserError(`the journal ${this.eventsPath} does not start with the run's creation (run.created)`, {
        code: "E_JOURNAL",
        details: [
          "cutover will not start a new run over an existing journal (its originals would be lost)",
          "restore the journal from a backup, or set this run aside with `cutover archive --confirm NAME`",
        ],
      });
    }
    const out: LoadedState = { state: replayed };
    if (journal.repaired) out.repaired = journal.repaired;
    if (!cached.state || !sameState(cached.state, replayed)) {
      out.rebuilt = !cached.exists
        ? `${this.statePath} was missing; rebuilt from the journal ${this.eventsPath}`
        : cached.error
          ? `${this.statePath} was damaged (${cached.error[0]}); rebuilt from the journal ${this.eventsPath}`
          : `${this.statePath} was behind the journal (a run stopped between two writes); brought up to date from ${this.eventsPath}`;
      // Only a runner that holds the lock writes the cache; a reader just uses the replay.
      if (options.repair !== false) await this.write(replayed);
    }
    return out;
  }

  private async readCache(): Promise<{ exists: boolean; state?: RunState; error?: string[] }> {
    let text: string;
    try {
      text = await readFile(this.statePath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { exists: false };
      throw error;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      return { exists: true, error: [`not JSON: ${(error as Error).message}`] };
    }
    const parsed = runStateSchema.safeParse(data);
    if (!parsed.success) return { exists: true, error: issueLines(parsed.error) };
    return { exists: true, state: parsed.data as RunState };
  }

  /** Writes the snapshot (the cache of the journal). */
  async write(state: RunState): Promise<void> {
    await this.ensureDir();
    await writeFileAtomic(this.statePath, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  /** Journals an event, applies it to `state` (the same code a replay runs) and writes the snapshot. */
  async record(state: RunState, event: JournalEvent): Promise<void> {
    await this.appendOnly(event);
    failpoint(`journal:${event.type}${event.step ? `:${event.step}` : ""}`);
    applyEvent(state, event);
    await this.write(state);
    // Observers see the event with the state it produced (a notification reads the step's state).
    for (const o of this.observers) o(event);
  }

  async append(event: JournalEvent): Promise<void> {
    await this.appendOnly(event);
    for (const o of this.observers) o(event);
  }

  private async appendOnly(event: JournalEvent): Promise<void> {
    await this.ensureDir();
    const fh = await open(this.eventsPath, "a", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(event)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Calls `fn` with every event after it is journaled (notifications); `fn` must not throw or wait. */
  observe(fn: (event: JournalEvent) => void): void {
    this.observers.push(fn);
  }

  async events(): Promise<JournalEvent[]> {
    return (await this.readJournal(false))?.events ?? [];
  }

  /**
   * The journal's events, checked line by line. Only the last line may be cut (a crash in the middle of an
   * append: it was never acknowledged, so it is dropped, and with `repair` cut off the file so the next
   * append starts on a line of its own). Any other bad line is an error naming every bad line.
   */
  private async readJournal(repair: boolean): Promise<{ events: JournalEvent[]; repaired?: string } | undefined> {
    let text: string;
    try {
      text = await readFile(this.eventsPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const lines = text.split("\n");
    const events: JournalEvent[] = [];
    const bad: string[] = [];
    let repaired: string | undefined;
    for (const [i, line] of lines.entries()) {
      if (!line.trim()) continue;
      const last = i === lines.length - 1; // no newline after it: the append did not finish
      let data: unknown;
      try {
        data = JSON.parse(line);
      } catch (error) {
        if (last) {
          repaired = `the journal's last line (${line.length} bytes) was cut by a crash mid-write; dropped`;
          if (repair) await truncate(this.eventsPath, Buffer.byteLength(text) - Buffer.byteLength(line));
          continue;
        }
        bad.push(`line ${i + 1}: not JSON (${(error as Error).message}): ${line.slice(0, 60)}`);
        continue;
      }
      const parsed = eventSchema.safeParse(data);
      if (!parsed.success) bad.push(`line ${i + 1}: not a journal event (${issueLines(parsed.error).join("; ")})`);
      else events.push(parsed.data as JournalEvent);
    }
    if (events.length > 0 && events[0]!.type === "run.created") {
      const first = events[0]!;
      if (!Array.isArray(first.originals) || !first.originals.every((r) => recordSchema.safeParse(r).success))
        bad.unshift("line 1: run.created has no valid list of original records");
    }
    if (bad.length > 0) {
      throw new UserError(`the journal ${this.eventsPath} is damaged`, {
        code: "E_JOURNAL",
        details: [
          ...bad,
          "nothing was changed; the journal holds the original records, so do not delete it:",
          "restore it from a backup, or fix or remove the lines above by hand (one JSON event per line), then run the command again",
        ],
      });
    }
    return repaired ? { events, repaired } : { events };
  }
}
