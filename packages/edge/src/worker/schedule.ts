import { redact } from "@cutover/dns";
import type { EdgePlanData, EdgeStepSpec } from "../edge-plan.js";
import { edgeDecide, emptyRow, rowDone, rowFailed, rowPolled, rowStarted, type StepRow } from "./_policy.js";
import type { AlarmInvocationInfo, DurableObjectState } from "./_runtime.js";
import { traced } from "./_trace.js";
import { EdgeNotifier, edgeEvent, type EdgeEventType, type EdgeNotifyStatus } from "./notify.js";
import plan from "./plan.js";
import { runEdgeStep, secretsOf, type EdgeEnv } from "./steps.js";

interface LogRow {
  seq: number;
  at: number;
  step: string | null;
  level: string;
  message: string;
  data: string | null;
}

export type EdgeRunState = "new" | "armed" | "done" | "cancelled";

/** What `GET /status` answers. */
export interface EdgeStatusBody {
  name: string;
  state: EdgeRunState;
  now: string;
  nextAlarm: string | null;
  steps: Array<{
    id: string;
    kind: string;
    at: string;
    summary: string;
    status: StepRow["status"];
    attempts: number;
    startedAt: string | null;
    doneAt: string | null;
    retryAt: string | null;
    error: string | null;
    /** A step that finished but saw a problem (a check no resolver answered). */
    warning: string | null;
    result: unknown;
  }>;
  log: Array<{ seq: number; at: string; step: string | null; level: string; message: string; data: unknown }>;
  /** The notifications sent (the latest 20), when the plan has a webhook. */
  notifications?: EdgeNotifyStatus;
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/**
 * One per plan: holds the steps' state and the log in SQLite, and one alarm for the next thing due. Alarms
 * come at least once, so a step that is done is never run again, and a step run twice changes nothing the
 * second time (`applyChangeSet` reads first and writes only what is missing). A step that fails is tried
 * again after a backoff; the steps run in order, and the swap waits for the TTL drop to have reached every
 * cache. After the last step the object deletes its alarm and says it is done.
 */
export class CutoverSchedule {
  private readonly ctx: DurableObjectState;
  private readonly env: EdgeEnv;
  /** The plan of the version running now; a redeploy brings a new one and keeps the rows and the alarm. */
  private readonly plan: EdgePlanData = plan;
  private running: Promise<void> = Promise.resolve();
  private readonly notifier: EdgeNotifier;

  constructor(ctx: DurableObjectState, env: EdgeEnv) {
    this.ctx = ctx;
    this.env = env;
    const sql = ctx.storage.sql;
    this.notifier = new EdgeNotifier(sql, env, this.plan.notify, (level, message) => this.log(null, level, message));
    sql.exec(`CREATE TABLE IF NOT EXISTS steps (
      id TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, started_at INTEGER,
      done_at INTEGER, retry_at INTEGER, error TEXT, result TEXT)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS log (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, step TEXT, level TEXT NOT NULL,
      message TEXT NOT NULL, data TEXT)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)`);
  }

  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    const route = `${request.method} ${pathname}`;
    if (route === "GET /status") return json(await this.status());
    if (route === "POST /arm") {
      await this.arm();
      return json(await this.status());
    }
    if (route === "POST /tick") {
      await this.exclusive(() => this.runDue("tick"));
      this.sendNotifications();
      return json(await this.status());
    }
    if (route === "POST /cancel") {
      await this.exclusive(() => this.cancel());
      return json(await this.status());
    }
    return json({ error: `no route ${route}` }, 404);
  }

  async alarm(info?: AlarmInvocationInfo): Promise<void> {
    const scheduled = Number(this.meta("alarm_at") ?? Date.now());
    this.log(
      null,
      "info",
      `alarm fired ${Date.now() - scheduled} ms after its time${info?.isRetry ? ` (platform retry ${info.retryCount})` : ""}`,
    );
    await this.exclusive(() => this.runDue("alarm"));
    this.sendNotifications();
  }

  /** Queues an event and starts sending it at once, beside the step (never awaited by a step). */
  private notify(type: EdgeEventType, fields: Parameters<typeof edgeEvent>[3], at = Date.now()): void {
    if (!this.notifier.enabled) return;
    this.notifier.queue(edgeEvent(this.plan, type, at, fields));
    this.sendNotifications();
  }

  /**
   * Delivers what the outbox holds, beside whatever runs; afterwards the alarm is set for a retry that
   * is still to come. Deliveries never throw and a step never waits for them.
   */
  private sendNotifications(): void {
    if (!this.notifier.enabled) return;
    const p = this.notifier
      .flush()
      .then(() => this.exclusive(() => this.scheduleNext()))
      .catch(() => undefined);
    this.ctx.waitUntil?.(p);
  }

  /** Steps run one at a time: an alarm and a tick arriving together do not both write. */
  private exclusive(fn: () => Promise<void>): Promise<void> {
    const next = this.running.then(fn, fn);
    this.running = next.catch(() => undefined);
    return next;
  }

  private get steps(): EdgeStepSpec[] {
    return this.plan.steps;
  }

  private meta(key: string): string | undefined {
    const rows = this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray();
    return rows[0]?.value;
  }

  private setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.ctx.storage.sql.exec("DELETE FROM meta WHERE key = ?", key);
    else this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  private row(id: string): StepRow {
    const rows = this.ctx.storage.sql.exec<StepRow>("SELECT * FROM steps WHERE id = ?", id).toArray();
    return rows[0] ?? emptyRow(id);
  }

  private saveRow(r: StepRow): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO steps (id, status, attempts, started_at, done_at, retry_at, error, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      r.id,
      r.status,
      r.attempts,
      r.started_at,
      r.done_at,
      r.retry_at,
      r.error,
      r.result,
    );
  }

  /** Appends to the log; any secret the Worker holds is replaced by [REDACTED] first. */
  private log(step: string | null, level: "info" | "warn" | "error", message: string, data?: unknown): void {
    const secrets = Object.values(secretsOf(this.env));
    const text = data === undefined ? null : redact(JSON.stringify(data), secrets);
    this.ctx.storage.sql.exec(
      "INSERT INTO log (at, step, level, message, data) VALUES (?, ?, ?, ?, ?)",
      Date.now(),
      step,
      level,
      redact(message, secrets),
      text,
    );
  }

  private async arm(): Promise<void> {
    if (this.meta("cancelled_at")) return;
    if (!this.meta("armed_at")) {
      this.setMeta("armed_at", String(Date.now()));
      this.log(
        null,
        "info",
        `armed ${this.steps.length} steps: ${this.steps.map((s) => `${s.id} at ${iso(s.at)}`).join(", ")}`,
      );
    }
    // Set again even when storage holds the same time: a new version must not depend on the old one's timer.
    await this.scheduleNext(true);
  }

  private async cancel(): Promise<void> {
    if (this.meta("cancelled_at")) return;
    await this.ctx.storage.deleteAlarm();
    this.setMeta("alarm_at", undefined);
    this.setMeta("cancelled_at", String(Date.now()));
    const pending = this.steps.filter((s) => this.row(s.id).status !== "done").map((s) => s.id);
    this.log(null, "warn", `cancelled; steps not run: ${pending.join(", ") || "none"}`);
  }

  /** What core's policy says is due now, what waits, and when to wake (`nextAction` over the rows). */
  private decide() {
    return edgeDecide(this.plan, (id) => this.row(id), Date.now());
  }

  private async runDue(trigger: "alarm" | "tick"): Promise<void> {
    if (this.meta("cancelled_at")) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    if (!this.meta("armed_at")) this.setMeta("armed_at", String(Date.now()));
    for (;;) {
      const next = this.decide().due[0];
      if (!next) break;
      const spec = next.spec;
      const r = rowStarted(this.row(spec.id), Date.now());
      this.saveRow(r);
      this.log(spec.id, "info", `${spec.id}: attempt ${r.attempts} (${trigger}, due ${iso(spec.at)})`);
      // Told once: the retries of a failed step are not started again.
      if (r.attempts === 1) this.notify("step.started", { step: spec, attempt: 1 }, r.started_at ?? Date.now());
      const { value: result, calls } = await traced(() => runEdgeStep(this.env, this.plan, spec));
      const failedCalls = calls.filter((c) => c.status === "network error" || c.status >= 400).length;
      const data = {
        result: result.detail,
        calls: calls.map((c) => `${c.method} ${c.url} → ${c.status} (${c.ms} ms)`),
      };
      const kept = JSON.stringify({
        summary: result.summary,
        detail: result.detail,
        ...(result.warning ? { warning: result.warning } : {}),
      });
      if (result.complete) {
        const doneAt = Date.now();
        const done = rowDone(r, doneAt, kept);
        this.saveRow(done);
        this.log(
          spec.id,
          result.warning ? "warn" : "info",
          `${spec.id} done: ${result.summary}${failedCalls ? ` (${failedCalls} API call(s) failed and were retried)` : ""}${result.warning ? `; warning: ${result.warning}` : ""}`,
          data,
        );
        this.notify("step.done", { step: spec, attempt: done.attempts, summary: result.summary }, doneAt);
        continue;
      }
      if (result.pollAt !== undefined) {
        this.saveRow(rowPolled(r, result.pollAt, kept));
        this.log(spec.id, "info", `${spec.id}: ${result.summary}; again at ${iso(result.pollAt)}`, data);
        continue;
      }
      const failed = rowFailed(this.plan, next, r, Date.now(), result.error ?? result.summary);
      this.saveRow(failed);
      this.log(
        spec.id,
        "error",
        `${spec.id} failed (attempt ${failed.attempts}): ${failed.error}; trying again at ${iso(failed.retry_at)}`,
        data,
      );
      // The first failure is told; the Worker keeps trying with backoff, and step.done follows a success.
      if (failed.attempts === 1)
        this.notify(
          "step.failed",
          { step: spec, attempt: 1, error: failed.error ?? "", willRetry: true },
          failed.started_at ?? Date.now(),
        );
    }
    await this.scheduleNext();
  }

  private async scheduleNext(force = false): Promise<void> {
    if (this.meta("cancelled_at")) return;
    const action = this.decide();
    let at: number | undefined;
    if (action.finished) {
      if (!this.meta("done_at")) {
        const doneAt = Date.now();
        this.setMeta("done_at", String(doneAt));
        this.log(null, "info", `done: all ${this.steps.length} steps finished; alarm removed`);
        this.notify("move.finished", {}, doneAt);
      }
    } else at = action.wakeAt;
    // A notification still to be delivered keeps an alarm: at its retry time, or, while a delivery runs
    // or is about to (and could be cut short by an eviction), a little after the longest attempt.
    const retry = this.notifier.nextRetryAt();
    if (retry !== undefined) {
      const soon = this.notifier.busy || retry <= Date.now();
      const when = soon ? Math.max(retry, Date.now() + 15_000) : retry;
      at = at === undefined ? when : Math.min(at, when);
    }
    if (at === undefined) {
      await this.ctx.storage.deleteAlarm();
      this.setMeta("alarm_at", undefined);
      return;
    }
    const current = await this.ctx.storage.getAlarm();
    if (force || current !== at) {
      // workerd (miniflare) does not start the timer of an alarm it finds in storage after a restart, and
      // setting the same time again is a no-op for it: a forced re-arm clears the alarm, commits, sets it.
      // Cloudflare keeps alarms across versions; there this only costs a write.
      if (force && current === at) {
        await this.ctx.storage.deleteAlarm();
        await this.ctx.storage.sync();
      }
      await this.ctx.storage.setAlarm(at);
      this.setMeta("alarm_at", String(at));
    }
  }

  private async status(): Promise<EdgeStatusBody> {
    const cancelled = this.meta("cancelled_at");
    const done = this.meta("done_at");
    const armed = this.meta("armed_at");
    const state: EdgeRunState = cancelled ? "cancelled" : done ? "done" : armed ? "armed" : "new";
    const alarm = await this.ctx.storage.getAlarm();
    const log = this.ctx.storage.sql.exec<LogRow>("SELECT * FROM log ORDER BY seq DESC LIMIT 200").toArray().reverse();
    return {
      name: this.plan.name,
      state,
      now: new Date().toISOString(),
      nextAlarm: iso(alarm),
      steps: this.steps.map((s) => {
        const r = this.row(s.id);
        const result = r.result === null ? null : (JSON.parse(r.result) as { warning?: string });
        return {
          id: s.id,
          kind: s.kind,
          at: new Date(s.at).toISOString(),
          summary: s.summary,
          status: r.status,
          attempts: r.attempts,
          startedAt: iso(r.started_at),
          doneAt: iso(r.done_at),
          retryAt: iso(r.retry_at),
          error: r.error,
          warning: result?.warning ?? null,
          result,
        };
      }),
      ...(this.notifier.status() ? { notifications: this.notifier.status() } : {}),
      log: log.map((l) => ({
        seq: l.seq,
        at: new Date(l.at).toISOString(),
        step: l.step,
        level: l.level,
        message: l.message,
        data: l.data === null ? null : (JSON.parse(l.data) as unknown),
      })),
    };
  }
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
