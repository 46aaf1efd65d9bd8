import { createHash, createHmac } from "node:crypto";
import type { EdgeNotifyData, EdgePlanData, EdgeStepSpec } from "../edge-plan.js";
import type { SqlStorage } from "./_runtime.js";
import { untracedFetch } from "./_trace.js";

/**
 * The Worker's notifications: the same events, in the same JSON (version 1), as `cutover run` and
 * `tick` send (docs/notifications.md), with `runner: "edge"`. Each event goes into an outbox table first
 * (so an alarm that runs twice queues it once, and a delivery cut short by an eviction is tried again at
 * the next alarm), then a delivery runs beside the steps: a step never waits for a webhook.
 */
export type EdgeEventType = "step.started" | "step.done" | "step.failed" | "move.finished";

export interface EdgeNotifyEvent {
  version: 1;
  id: string;
  type: EdgeEventType;
  at: string;
  move: string;
  runner: "edge";
  host: string;
  text: string;
  step?: { kind: string; label: string; scheduledAt: string; attempt?: number; id: string };
  summary?: string;
  error?: string;
  willRetry?: boolean;
}

/** The Worker's secret bindings for notifications: never in the plan module, the log or the status. */
export interface NotifyEnv {
  NOTIFY_WEBHOOK_URL?: string;
  NOTIFY_SECRET?: string;
}

interface OutboxRow {
  id: string;
  type: string;
  body: string;
  attempts: number;
  next_at: number;
  status: "pending" | "delivered" | "failed";
  http_status: number | null;
  error: string | null;
  at: number;
}

/** What `GET /status` says of the notifications (the latest 20). */
export interface EdgeNotifyStatus {
  target: string;
  deliveries: Array<{
    id: string;
    type: string;
    status: OutboxRow["status"];
    attempts: number;
    httpStatus: number | null;
    error: string | null;
  }>;
}

/** Attempts in all, the first wait (doubling), one attempt's limit: as the CLI's webhook delivery. */
export const NOTIFY_ATTEMPTS = 5;
const FIRST_WAIT_MS = 1000;
const ATTEMPT_TIMEOUT_MS = 10_000;

/** The step kind as the CLI names it: the edge's DoH check is the watch. */
function kindOf(step: EdgeStepSpec): string {
  return step.kind === "check" ? "watch" : step.kind;
}

function eventId(move: string, type: string, step: string | undefined, at: string): string {
  return createHash("sha256")
    .update(`${move}|${type}|${step ?? ""}|${at}|edge`)
    .digest("hex")
    .slice(0, 20);
}

/** Builds one event (pure: the same inputs give the same id). */
export function edgeEvent(
  plan: EdgePlanData,
  type: EdgeEventType,
  at: number,
  fields: { step?: EdgeStepSpec; attempt?: number; summary?: string; error?: string; willRetry?: boolean },
): EdgeNotifyEvent {
  const iso = new Date(at).toISOString();
  const s = fields.step;
  const what =
    type === "move.finished"
      ? "the edge has run every step"
      : type === "step.started"
        ? `${s!.id} started`
        : type === "step.done"
          ? `${s!.id} done${fields.summary ? `: ${fields.summary}` : ""}`
          : `${s!.id} failed${fields.willRetry ? " (trying again)" : ""}: ${fields.error ?? ""}`;
  return {
    version: 1,
    id: eventId(plan.name, type, s?.id, iso),
    type,
    at: iso,
    move: plan.name,
    runner: "edge",
    host: `cloudflare-worker ${plan.name}`,
    text: `${plan.name}: ${what}`,
    ...(s
      ? {
          step: {
            kind: kindOf(s),
            id: s.id,
            label: s.summary,
            scheduledAt: new Date(s.at).toISOString(),
            ...(fields.attempt !== undefined ? { attempt: fields.attempt } : {}),
          },
        }
      : {}),
    ...(fields.summary !== undefined ? { summary: fields.summary } : {}),
    ...(fields.error !== undefined ? { error: fields.error } : {}),
    ...(fields.willRetry !== undefined ? { willRetry: fields.willRetry } : {}),
  };
}

/** `sha256=HEX` of HMAC-SHA256 over `TIMESTAMP.BODY`, as the CLI signs (docs/notifications.md). */
export function signBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export class EdgeNotifier {
  private flushing: Promise<void> | undefined;

  private readonly sql: SqlStorage;
  private readonly env: NotifyEnv;
  private readonly config: EdgeNotifyData | undefined;
  /** Writes a line to the Durable Object's log (which redacts the Worker's secrets). */
  private readonly log: (level: "info" | "warn", message: string) => void;

  constructor(
    sql: SqlStorage,
    env: NotifyEnv,
    config: EdgeNotifyData | undefined,
    log: (level: "info" | "warn", message: string) => void,
  ) {
    this.sql = sql;
    this.env = env;
    this.config = config;
    this.log = log;
    sql.exec(`CREATE TABLE IF NOT EXISTS outbox (
      id TEXT PRIMARY KEY, type TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
      next_at INTEGER NOT NULL, status TEXT NOT NULL, http_status INTEGER, error TEXT, at INTEGER NOT NULL)`);
  }

  /** A delivery is under way. */
  get busy(): boolean {
    return this.flushing !== undefined;
  }

  get enabled(): boolean {
    return this.config?.webhook !== undefined && !!this.env.NOTIFY_WEBHOOK_URL;
  }

  /** Queues an event (once per id: an alarm delivered twice does not send it twice). */
  queue(event: EdgeNotifyEvent): void {
    if (!this.enabled) return;
    this.sql.exec(
      "INSERT OR IGNORE INTO outbox (id, type, body, attempts, next_at, status, at) VALUES (?, ?, ?, 0, ?, 'pending', ?)",
      event.id,
      event.type,
      JSON.stringify(event),
      Date.now(),
      Date.now(),
    );
  }

  /** When the next retry is due, if any delivery waits. */
  nextRetryAt(): number | undefined {
    const rows = this.sql
      .exec<{ n: number | null }>("SELECT MIN(next_at) AS n FROM outbox WHERE status = 'pending'")
      .toArray();
    return rows[0]?.n ?? undefined;
  }

  /**
   * Sends what is due, one event after another in the order they happened; never throws. One run at a
   * time: a second call while one runs waits for it.
   */
  flush(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    this.flushing ??= this.sendDue().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async sendDue(): Promise<void> {
    for (;;) {
      const row = this.sql
        .exec<OutboxRow>(
          "SELECT * FROM outbox WHERE status = 'pending' AND next_at <= ? ORDER BY at, rowid LIMIT 1",
          Date.now(),
        )
        .toArray()[0];
      if (!row) return;
      const attempt = row.attempts + 1;
      let status: number | undefined;
      let error: string | undefined;
      let retryAfterMs = 0;
      try {
        const headers: Record<string, string> = {
          "content-type": "application/json",
          "user-agent": "cutover-notify/1 (edge)",
          "x-cutover-event": row.type,
          "x-cutover-delivery": row.id,
        };
        if (this.config?.webhook?.signed && this.env.NOTIFY_SECRET) {
          const ts = Math.floor(Date.now() / 1000);
          headers["x-cutover-timestamp"] = String(ts);
          headers["x-cutover-signature"] = signBody(this.env.NOTIFY_SECRET, ts, row.body);
        }
        const res = await untracedFetch(this.env.NOTIFY_WEBHOOK_URL!, {
          method: "POST",
          headers,
          body: row.body,
          redirect: "manual",
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        await res.arrayBuffer().catch(() => undefined);
        status = res.status;
        const ra = Number(res.headers.get("retry-after"));
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = Math.min(60_000, ra * 1000);
      } catch (e) {
        error = (e as Error).name === "TimeoutError" ? "timed out" : "network error";
      }
      const ok = status !== undefined && status >= 200 && status < 300;
      const again = !ok && (status === undefined || retryable(status)) && attempt < NOTIFY_ATTEMPTS;
      const why = error ?? `HTTP ${status}`;
      const next = Date.now() + Math.max(retryAfterMs, FIRST_WAIT_MS * 2 ** (attempt - 1));
      this.sql.exec(
        "UPDATE outbox SET attempts = ?, status = ?, next_at = ?, http_status = ?, error = ? WHERE id = ?",
        attempt,
        ok ? "delivered" : again ? "pending" : "failed",
        again ? next : row.next_at,
        status ?? null,
        ok ? null : why,
        row.id,
      );
      const target = this.config?.webhook?.origin ?? "webhook";
      if (ok) this.log("info", `notify ${row.type} to webhook ${target}: delivered (attempt ${attempt})`);
      else if (!again)
        this.log("warn", `notify ${row.type} to webhook ${target}: not delivered after ${attempt} attempts: ${why}`);
      else
        this.log(
          "info",
          `notify ${row.type} to webhook ${target}: ${why}; trying again at ${new Date(next).toISOString()}`,
        );
    }
  }

  status(): EdgeNotifyStatus | undefined {
    if (!this.config?.webhook) return undefined;
    const rows = this.sql.exec<OutboxRow>("SELECT * FROM outbox ORDER BY at DESC, rowid DESC LIMIT 20").toArray();
    return {
      target: `webhook ${this.config.webhook.origin}${this.env.NOTIFY_WEBHOOK_URL ? "" : " (no NOTIFY_WEBHOOK_URL binding: nothing sent)"}`,
      deliveries: rows.reverse().map((r) => ({
        id: r.id,
        type: r.type,
        status: r.status,
        attempts: r.attempts,
        httpStatus: r.http_status,
        error: r.error,
      })),
    };
  }
}
