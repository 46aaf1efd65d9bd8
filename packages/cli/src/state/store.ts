import { createHash } from "node:crypto";
import { mkdir, open, readFile, chmod, truncate } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "@cutover/dns";
import { z } from "zod";
import { UserError } from "../errors.js";
import { failpoint } from "./failpoint.js";
import {
  eventSchema,
  recordSchema,
  replayEvents,
  runStateSchema,
  applyEvent,
  type JournalEvent,
  type RunState,
} from "@cutover/core/journal";

export function hashPlanText(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Where a plan's state lives: `--state DIR`, else `.cutover/NAME/` beside the plan file. */
export function stateDirFor(planPath: string, name: string, override?: string, cwd = process.cwd()): string {
  return override ? resolve(cwd, override) : join(dirname(planPath), ".cutover", name);
}

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
