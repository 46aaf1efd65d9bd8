import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import type { NotifyEvent } from "./event.js";

/** Where notifications go: a webhook (JSON POST) or a command (the event as JSON on stdin). */
export type NotifyTarget =
  | { kind: "webhook"; url: string; secret?: string; secretEnv?: string; secretMissing?: boolean }
  | { kind: "command"; command: string; cwd?: string };

export interface DeliveryOutcome {
  ok: boolean;
  attempts: number;
  /** The webhook's last HTTP status, or the command's exit code. */
  status?: number;
  error?: string;
}

export interface DeliverOptions {
  /** Attempts in all (default 5 for a webhook, 3 for a command). */
  attempts?: number;
  /** The first wait between attempts; it doubles each time (default 1 s). */
  backoffMs?: number;
  /** One attempt's limit (default 10 s for a webhook, 30 s for a command). */
  timeoutMs?: number;
  /** Waits between attempts (real time: deliveries never use the run's injected clock). */
  sleep?: (ms: number) => Promise<void>;
  /** Unix seconds for the signature's timestamp. */
  nowSeconds?: () => number;
}

/** How a target is shown in status and logs: a webhook by its origin only (the path may hold a token). */
export function describeTarget(t: NotifyTarget): string {
  if (t.kind === "command") return `command ${t.command.split(/\s+/)[0] ?? ""}`;
  try {
    return `webhook ${new URL(t.url).origin}`;
  } catch {
    return "webhook (bad URL)";
  }
}

/**
 * The signature a receiver checks: HMAC-SHA256 over `TIMESTAMP.BODY` with the shared secret, hex, sent
 * as `X-Cutover-Signature: sha256=HEX` beside `X-Cutover-Timestamp: TIMESTAMP` (refuse old timestamps
 * to stop replays).
 */
export function signBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

function errorText(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return "timed out";
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message ?? String(error)} (${cause})` : (e?.message ?? String(error));
}

async function postOnce(
  t: Extract<NotifyTarget, { kind: "webhook" }>,
  event: NotifyEvent,
  body: string,
  o: DeliverOptions,
): Promise<{ status: number; retryAfterMs?: number }> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "cutover-notify/1",
    "x-cutover-event": event.type,
    "x-cutover-delivery": event.id,
  };
  if (t.secret !== undefined) {
    const ts = Math.floor(o.nowSeconds?.() ?? Date.now() / 1000);
    headers["x-cutover-timestamp"] = String(ts);
    headers["x-cutover-signature"] = signBody(t.secret, ts, body);
  }
  const res = await fetch(t.url, {
    method: "POST",
    headers,
    body,
    redirect: "error",
    signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
  });
  await res.arrayBuffer().catch(() => undefined);
  const ra = Number(res.headers.get("retry-after"));
  return { status: res.status, ...(Number.isFinite(ra) && ra > 0 ? { retryAfterMs: ra * 1000 } : {}) };
}

function runOnce(
  t: Extract<NotifyTarget, { kind: "command" }>,
  body: string,
  event: NotifyEvent,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", t.command], {
      ...(t.cwd ? { cwd: t.cwd } : {}),
      stdio: ["pipe", "ignore", "pipe"],
      env: { ...process.env, CUTOVER_EVENT: event.type, CUTOVER_EVENT_ID: event.id },
    });
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`did not finish within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(0);
      else
        reject(
          Object.assign(
            new Error(`exited with ${signal ?? code}${stderr.trim() ? `: ${stderr.trim().split("\n").pop()}` : ""}`),
            { exitCode: code ?? undefined },
          ),
        );
    });
    child.stdin.on("error", () => {}); // a command that does not read its stdin is fine
    child.stdin.end(`${body}\n`); // one line: `cat >> events.jsonl` keeps a log
  });
}

/**
 * Delivers one event to one target, retrying with exponential backoff (a webhook on network errors,
 * timeouts, 408, 425, 429 and 5xx, honouring Retry-After up to a minute; a command on any failure).
 * Never throws: the outcome says what happened.
 */
export async function deliver(t: NotifyTarget, event: NotifyEvent, o: DeliverOptions = {}): Promise<DeliveryOutcome> {
  const body = JSON.stringify(event);
  const sleep = o.sleep ?? realSleep;
  const max = o.attempts ?? (t.kind === "webhook" ? 5 : 3);
  let wait = o.backoffMs ?? 1000;
  let last: DeliveryOutcome = { ok: false, attempts: 0, error: "not attempted" };
  if (t.kind === "webhook" && t.secretMissing)
    return { ok: false, attempts: 0, error: `not sent: the signing secret ${t.secretEnv ?? ""} is not set` };
  for (let attempt = 1; attempt <= max; attempt++) {
    let retryAfterMs: number | undefined;
    try {
      if (t.kind === "webhook") {
        const r = await postOnce(t, event, body, o);
        if (r.status >= 200 && r.status < 300) return { ok: true, attempts: attempt, status: r.status };
        last = { ok: false, attempts: attempt, status: r.status, error: `HTTP ${r.status}` };
        if (!retryable(r.status)) return last;
        retryAfterMs = r.retryAfterMs;
      } else {
        const code = await runOnce(t, body, event, o.timeoutMs ?? 30_000);
        return { ok: true, attempts: attempt, status: code };
      }
    } catch (error) {
      const exitCode = (error as { exitCode?: number }).exitCode;
      last = {
        ok: false,
        attempts: attempt,
        error: errorText(error),
        ...(exitCode !== undefined ? { status: exitCode } : {}),
      };
    }
    if (attempt < max) {
      await sleep(Math.min(60_000, Math.max(wait, retryAfterMs ?? 0)));
      wait *= 2;
    }
  }
  return last;
}
