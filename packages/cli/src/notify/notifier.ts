import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "@cutover/dns";
import { UserError } from "../errors.js";
import type { Plan } from "../plan/schema.js";
import { deliver, describeTarget, type DeliverOptions, type NotifyTarget } from "./deliver.js";
import {
  clientsEvent,
  finishedEvent,
  notificationsFor,
  type EventContext,
  type NotifyEvent,
  type Runner,
} from "./event.js";
import type { JournalEvent, RunState } from "@cutover/core/journal";
import type { Timeline } from "@cutover/core";

/** One delivery as `status` shows it (the target by its origin only, never the URL's path or a secret). */
export interface DeliveryRecord {
  id: string;
  type: NotifyEvent["type"];
  step?: string;
  at: string;
  target: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
  finishedAt: string;
  /** The order in which this runner sent its events (deliveries finish in any order). */
  seq?: number;
}

/** `notify.json` in the state directory: the last deliveries, and what was last said about clients. */
export interface NotifyRecord {
  version: 1;
  deliveries: DeliveryRecord[];
  clients?: { arriving: number; at: string };
}

const KEEP = 50;
/** "Still N clients arriving" is repeated at most this often while the count stays the same. */
const CLIENTS_REPEAT_MS = 3_600_000;

export function notifyPath(stateDir: string): string {
  return join(stateDir, "notify.json");
}

export async function readNotifyRecord(stateDir: string): Promise<NotifyRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(notifyPath(stateDir), "utf8")) as NotifyRecord;
    return r.version === 1 && Array.isArray(r.deliveries) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** `--notify URL`: an http(s) URL, or a usage error. */
export function parseNotifyUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`--notify ${text}: not a URL; give the webhook's http:// or https:// address`, {
      exitCode: 2,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new UserError(`--notify: ${url.protocol} is not supported; give an http:// or https:// address`, {
      exitCode: 2,
    });
  return url.toString();
}

/** The targets of a plan's `notify:` section and a `--notify URL`, with secrets read from the environment. */
export function notifyTargets(
  plan: Plan,
  env: Record<string, string | undefined>,
  flagUrl: string | undefined,
  planDir?: string,
): { targets: NotifyTarget[]; warnings: string[] } {
  const targets: NotifyTarget[] = [];
  const warnings: string[] = [];
  const n = plan.notify;
  const webhook = (url: string, secretEnv: string | undefined, required: boolean) => {
    const name = secretEnv ?? "CUTOVER_NOTIFY_SECRET";
    const secret = env[name];
    if (required && !secret) {
      warnings.push(
        `notify.webhook.secretEnv: ${name} is not set; notifications to ${describeTarget({ kind: "webhook", url })} are not sent until it is`,
      );
      targets.push({ kind: "webhook", url, secretEnv: name, secretMissing: true });
    } else targets.push({ kind: "webhook", url, secretEnv: name, ...(secret ? { secret } : {}) });
  };
  if (n?.webhook) webhook(n.webhook.url, n.webhook.secretEnv, n.webhook.secretEnv !== undefined);
  if (flagUrl) webhook(flagUrl, undefined, false);
  // A command runs in the plan's directory, like every other path in the plan.
  if (n?.command) targets.push({ kind: "command", command: n.command, ...(planDir ? { cwd: planDir } : {}) });
  return { targets, warnings };
}

export interface Notifier {
  /** Called for every journal event (StateStore.observe). */
  journal(e: JournalEvent): void;
  /** The run is finished: say so once. */
  finished(at: Date): void;
  /** Sends one event now (also used by tests and `status`-side tools). */
  send(event: NotifyEvent): void;
  /** Waits until every delivery under way has ended, at most `ms`; returns those still under way. */
  flush(ms: number): Promise<number>;
}

/**
 * Sends the notifications of a run in the background: a step never waits for a webhook or a command.
 * Each delivery's outcome is written to notify.json in the state directory for `status`.
 */
export async function createNotifier(o: {
  stateDir: string;
  runner: Runner;
  targets: NotifyTarget[];
  timeline: Timeline;
  state: RunState;
  plan: Plan;
  deliver?: DeliverOptions;
  onDelivery?: (r: DeliveryRecord) => void;
}): Promise<Notifier> {
  const record: NotifyRecord = (await readNotifyRecord(o.stateDir)) ?? { version: 1, deliveries: [] };
  const ctx: EventContext = {
    move: o.state.name,
    runner: o.runner,
    host: hostname(),
    timeline: o.timeline,
    state: o.state,
    arrivingWindowMs: o.plan.schedule.drain.quiet,
  };
  const pending = new Set<Promise<void>>();
  let saving: Promise<void> = Promise.resolve();
  const save = () => {
    saving = saving
      .then(() => writeFileAtomic(notifyPath(o.stateDir), `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 }))
      .catch(() => undefined);
    return saving;
  };
  let sent = 0;
  const send = (event: NotifyEvent) => {
    const seq = ++sent;
    for (const t of o.targets) {
      const p = deliver(t, event, o.deliver).then(async (outcome) => {
        const r: DeliveryRecord = {
          id: event.id,
          type: event.type,
          ...(event.step ? { step: event.step.kind } : {}),
          at: event.at,
          target: describeTarget(t),
          ...outcome,
          finishedAt: new Date().toISOString(),
          seq,
        };
        // Kept in the order of the events (a later event's delivery may finish first), not of completion.
        record.deliveries = [...record.deliveries, r]
          .map((d, i) => ({ d, i }))
          .sort((a, b) => a.d.at.localeCompare(b.d.at) || (a.d.seq ?? 0) - (b.d.seq ?? 0) || a.i - b.i)
          .map((x) => x.d)
          .slice(-KEEP);
        o.onDelivery?.(r);
        await save();
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  };
  return {
    journal(e) {
      if (o.targets.length === 0) return;
      for (const ev of notificationsFor(e, ctx)) send(ev);
      if (e.step === "drain" && (e.type === "step.progress" || e.type === "step.start")) {
        const result = e.type === "step.progress" ? e.result : undefined;
        const r = result as { staleClients?: Array<{ lastSeen: string; address: string }> } | undefined;
        if (!r?.staleClients) return;
        const at = Date.parse(e.at);
        const recent = r.staleClients.filter((c) => Date.parse(c.lastSeen) >= at - ctx.arrivingWindowMs);
        const last = record.clients;
        const changed = !last || last.arriving !== recent.length;
        const repeat = last && recent.length > 0 && at - Date.parse(last.at) >= CLIENTS_REPEAT_MS;
        if (!changed && !repeat) return;
        if (!last && recent.length === 0) return;
        record.clients = { arriving: recent.length, at: e.at };
        send(
          clientsEvent(ctx, e.at, {
            arriving: recent.length,
            total: r.staleClients.length,
            addresses: recent.map((c) => c.address).slice(0, 20),
          }),
        );
      }
    },
    finished(at) {
      if (o.targets.length === 0) return;
      send(finishedEvent(ctx, at.toISOString()));
    },
    send,
    async flush(ms) {
      const deadline = Date.now() + ms;
      while (pending.size > 0 && Date.now() < deadline) {
        await Promise.race([
          Promise.allSettled(pending),
          new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
        ]);
      }
      await saving;
      return pending.size;
    },
  };
}
