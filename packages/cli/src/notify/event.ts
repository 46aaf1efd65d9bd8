import { createHash } from "node:crypto";
import { count } from "../output/words.js";
import type { JournalEvent, RunState } from "@cutover/core/journal";
import type { StepKind, Timeline } from "@cutover/core";

/** What a notification is about (docs/notifications.md lists each with its fields). */
export type NotifyEventType =
  | "step.started"
  | "step.done"
  | "step.failed"
  | "relay.clients"
  | "move.finished"
  | "move.rolled-back"
  | "test";

/** Which program sent it: a foreground run, a tick (systemd, at, cron), the demo, or the edge Worker. */
export type Runner = "run" | "tick" | "demo" | "rollback" | "edge";

/** The JSON body of every notification, version 1. */
export interface NotifyEvent {
  version: 1;
  /** Stable for the same journal event: a receiver can drop a retried delivery it has seen. */
  id: string;
  type: NotifyEventType;
  /** When it happened (the journal's time, UTC). */
  at: string;
  move: string;
  runner: Runner;
  host: string;
  /** One line for a person (chat message, mail subject). */
  text: string;
  step?: { kind: StepKind; label: string; scheduledAt: string; attempt?: number };
  /** step.failed: why; `willRetry` says whether the runner tries again by itself. */
  error?: string;
  willRetry?: boolean;
  /** step.done: what the step found or did, in short. */
  summary?: string;
  /** relay.clients, and step.done of the drain: clients that still reach the old host. */
  clients?: { arriving: number; total: number; addresses: string[] };
}

export function eventId(move: string, type: string, step: string | undefined, at: string): string {
  return createHash("sha256")
    .update(`${move}|${type}|${step ?? ""}|${at}`)
    .digest("hex")
    .slice(0, 20);
}

interface StaleClient {
  address: string;
  lastSeen: string;
}

/** The clients of a relay summary seen within `windowMs` before `at`. */
export function arrivingClients(result: unknown, at: number, windowMs: number): NotifyEvent["clients"] | undefined {
  const r = result as { staleClients?: StaleClient[] } | undefined;
  if (!Array.isArray(r?.staleClients)) return undefined;
  const recent = r.staleClients.filter((c) => Date.parse(c.lastSeen) >= at - windowMs);
  return {
    arriving: recent.length,
    total: r.staleClients.length,
    addresses: recent.map((c) => c.address).slice(0, 20),
  };
}

function shortSummary(result: unknown): string | undefined {
  const r = result as { summary?: unknown; records?: Array<{ status?: string }> } | undefined;
  if (typeof r?.summary === "string") return r.summary;
  if (Array.isArray(r?.records)) {
    const changed = r.records.filter((x) => x.status === "applied").length;
    return `${count(changed, "record")} changed, ${r.records.length - changed} already in place`;
  }
  return undefined;
}

export interface EventContext {
  move: string;
  runner: Runner;
  host: string;
  timeline: Timeline;
  state: RunState;
  /** The window for "still arriving": the plan's drain quiet time. */
  arrivingWindowMs: number;
}

/**
 * Turns a journal event into the notifications it stands for (none for most). A polling step (watch,
 * drain) journals a start on every poll and a retrying step one per attempt: only the first start and
 * the first failure of a step are told, then its end.
 */
export function notificationsFor(e: JournalEvent, ctx: EventContext): NotifyEvent[] {
  const base = (type: NotifyEventType, text: string) => ({
    version: 1 as const,
    id: eventId(ctx.move, type, e.step, e.at),
    type,
    at: e.at,
    move: ctx.move,
    runner: ctx.runner,
    host: ctx.host,
    text: `${ctx.move}: ${text}`,
  });
  const step = e.step ? ctx.timeline.steps.find((s) => s.kind === e.step) : undefined;
  const stepInfo = step
    ? {
        kind: step.kind,
        label: step.label,
        scheduledAt: step.at.toISOString(),
        ...("attempt" in e && typeof e.attempt === "number" ? { attempt: e.attempt } : {}),
      }
    : undefined;
  const st = e.step ? ctx.state.steps[e.step] : undefined;
  switch (e.type) {
    case "step.start":
      if (!step || st?.startedAt !== e.at || e.attempt !== 1) return [];
      return [{ ...base("step.started", `${step.kind} started (${step.label})`), step: stepInfo! }];
    case "step.done": {
      if (!step) return [];
      const summary = shortSummary(e.result);
      const clients =
        step.kind === "drain" ? arrivingClients(e.result, Date.parse(e.at), ctx.arrivingWindowMs) : undefined;
      return [
        {
          ...base("step.done", `${step.kind} done${summary ? `: ${summary}` : ""}`),
          step: stepInfo!,
          ...(summary ? { summary } : {}),
          ...(clients ? { clients } : {}),
        },
      ];
    }
    case "step.retry":
    case "step.failed": {
      if (!step) return [];
      const willRetry = e.type === "step.retry";
      if (willRetry && e.attempt !== 1) return [];
      const error = String(e.error ?? "unknown error");
      return [
        {
          ...base("step.failed", `${step.kind} failed${willRetry ? " (retrying)" : ""}: ${error}`),
          step: stepInfo!,
          error,
          willRetry,
        },
      ];
    }
    case "rollback.done":
      return [
        {
          ...base("move.rolled-back", "rolled back: the records point at the old host again"),
          summary: `${count(ctx.state.rolledBack?.outcomes.length ?? 0, "record")} put back`,
        },
      ];
    default:
      return [];
  }
}

/** The notification for clients still reaching the old host (the caller decides when it is news). */
export function clientsEvent(ctx: EventContext, at: string, clients: NonNullable<NotifyEvent["clients"]>): NotifyEvent {
  const step = ctx.timeline.steps.find((s) => s.kind === "drain");
  return {
    version: 1,
    id: eventId(ctx.move, "relay.clients", "drain", at),
    type: "relay.clients",
    at,
    move: ctx.move,
    runner: ctx.runner,
    host: ctx.host,
    text: `${ctx.move}: still ${clients.arriving} client${clients.arriving === 1 ? "" : "s"} arriving at the old host (${clients.total} since the handover)`,
    ...(step ? { step: { kind: step.kind, label: step.label, scheduledAt: step.at.toISOString() } } : {}),
    clients,
  };
}

export function finishedEvent(ctx: EventContext, at: string): NotifyEvent {
  const failed = Object.entries(ctx.state.steps).filter(([, s]) => s?.status === "failed").length;
  return {
    version: 1,
    id: eventId(ctx.move, "move.finished", undefined, ctx.state.createdAt),
    type: "move.finished",
    at,
    move: ctx.move,
    runner: ctx.runner,
    host: ctx.host,
    text: `${ctx.move}: the move is finished${failed ? ` (${count(failed, "step")} failed)` : ""}`,
  };
}
