import { createHash } from "node:crypto";
import { mkdir, open, readFile, chmod } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic, type ChangeOutcome, type DnsRecord } from "@cutover/dns";
import { UserError } from "../errors.js";
import type { StepKind } from "../timeline/plan.js";

export type StepStatus = "pending" | "running" | "done" | "failed" | "skipped";

export interface StepState {
  status: StepStatus;
  attempts: number;
  startedAt?: string;
  doneAt?: string;
  error?: string;
  /** What the step found or did, for status and the report. */
  result?: unknown;
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
  rolledBack?: { at: string; outcomes: Array<Pick<ChangeOutcome, "status"> & { name: string; type: string }> };
  createdAt: string;
  updatedAt: string;
}

export interface JournalEvent {
  at: string;
  type: string;
  step?: StepKind;
  [key: string]: unknown;
}

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

  async read(): Promise<RunState | undefined> {
    let text: string;
    try {
      text = await readFile(this.statePath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    try {
      const state = JSON.parse(text) as RunState;
      if (state.version !== 1) throw new Error(`unknown version ${String(state.version)}`);
      return state;
    } catch (error) {
      throw new UserError(`the state file ${this.statePath} is damaged: ${(error as Error).message}`, {
        code: "E_STATE",
        details: [`the event log ${this.eventsPath} has the full history; move the state file away to start over`],
      });
    }
  }

  async write(state: RunState, now: Date): Promise<void> {
    state.updatedAt = now.toISOString();
    await this.ensureDir();
    await writeFileAtomic(this.statePath, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  async append(event: JournalEvent): Promise<void> {
    await this.ensureDir();
    const fh = await open(this.eventsPath, "a", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(event)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    for (const o of this.observers) o(event);
  }

  /** Calls `fn` with every event after it is journaled (notifications); `fn` must not throw or wait. */
  observe(fn: (event: JournalEvent) => void): void {
    this.observers.push(fn);
  }

  async events(): Promise<JournalEvent[]> {
    let text: string;
    try {
      text = await readFile(this.eventsPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const out: JournalEvent[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as JournalEvent);
      } catch {
        // A line cut by a crash mid-write: everything before it is intact.
      }
    }
    return out;
  }
}
