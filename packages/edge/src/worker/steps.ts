import { applyChangeSet, queryDns, type DnsProvider } from "@cutover/dns";
import { createCloudflareProvider } from "@cutover/dns/cloudflare";
import { createLinodeProvider } from "@cutover/dns/linode";
import type { EdgeChangeStep, EdgeCheckSpec, EdgePlanData, EdgeStepSpec } from "../edge-plan.js";
import { sameIp } from "@cutover/core";

/**
 * The Worker's secret bindings (the plan comes from the `plan.js` module): the control token, the
 * notification webhook's URL and HMAC secret (docs/notifications.md) when the plan has one, and the DNS
 * provider's token under the name its provider declares (`tokenBindingFor`), which only the provider reads.
 */
export interface EdgeEnv {
  CONTROL_TOKEN?: string;
  NOTIFY_WEBHOOK_URL?: string;
  NOTIFY_SECRET?: string;
  [binding: string]: unknown;
}

/** The Worker's string bindings (its secrets): what the provider reads its token from, and what logs redact. */
export function secretsOf(env: EdgeEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === "string"));
}

/** What one run of a step found and did, kept in the step's row and its log entry. */
export interface StepRunResult {
  complete: boolean;
  summary: string;
  detail: unknown;
  error?: string;
  /** Done, but something the admin should see (logged at warning level, shown by `cutover status`). */
  warning?: string;
  /**
   * Not complete and not failed: run again at this time (ms). The DNS steps and the checks end in one
   * attempt today; the scheduler keeps the poll of core's policy so a step that waits (a check that
   * repeats until propagated) needs no second policy.
   */
  pollAt?: number;
}

export function createEdgeProvider(env: EdgeEnv, plan: EdgePlanData): DnsProvider {
  const p = plan.provider;
  const config = {
    provider: p.name,
    zones: plan.zones,
    ...(p.apiUrl ? { apiUrl: p.apiUrl } : {}),
    ...(p.batchSize ? { batchSize: p.batchSize } : {}),
    options: p.options,
    baseDir: "/",
    env: secretsOf(env),
  };
  return p.name === "linode" ? createLinodeProvider(config) : createCloudflareProvider(config);
}

/** lower, swap, restore: read first, write only what is missing, read back (`applyChangeSet`). */
async function runChanges(env: EdgeEnv, plan: EdgePlanData, step: EdgeChangeStep): Promise<StepRunResult> {
  const provider = createEdgeProvider(env, plan);
  try {
    const report = await applyChangeSet(provider, step.changes);
    const count = (s: string) => report.outcomes.filter((o) => o.status === s).length;
    const outcomes = report.outcomes.map((o) => ({
      name: o.change.name,
      type: o.change.type,
      status: o.status,
      after: `${o.change.after.content} ttl ${o.change.after.ttl}`,
      ...(o.status === "failed" ? { error: o.error } : {}),
      ...(o.status === "conflict" ? { found: o.found ?? null } : {}),
    }));
    const summary = `${count("applied")} applied, ${count("already")} already in place, ${count("failed") + count("pending")} failed, ${count("conflict")} changed by someone else`;
    const errors = report.outcomes.flatMap((o) =>
      o.status === "failed"
        ? [o.error]
        : o.status === "conflict"
          ? [`${o.change.name} ${o.change.type} changed by someone else`]
          : [],
    );
    return {
      complete: report.complete,
      summary,
      detail: outcomes,
      ...(report.complete ? {} : { error: [...new Set(errors)].join("; ") || "not complete" }),
    };
  } catch (error) {
    return { complete: false, summary: "failed", detail: null, error: (error as Error).message };
  } finally {
    await provider.close?.();
  }
}

/**
 * Asks every DoH resolver for every moved name; says how many answer the new address. Never fails (a check
 * only reports), but when no resolver answered at all it says so as a warning: the check saw nothing.
 */
async function runCheck(check: EdgeCheckSpec): Promise<StepRunResult> {
  const rows = await Promise.all(
    check.resolvers.flatMap((url) =>
      check.targets.map(async (t) => {
        const r = await queryDns({ kind: "doh", url, label: url }, t.name, t.type, { timeoutMs: 5000 });
        if (r.error) return { resolver: url, name: t.name, type: t.type, state: "error", answer: r.error.message };
        const data = (r.response?.answers ?? []).filter((a) => a.type === t.type).map((a) => a.data);
        const state = data.some((d) => sameIp(d, t.expect))
          ? "new"
          : data.some((d) => sameIp(d, t.old))
            ? "old"
            : data.length === 0
              ? "empty"
              : "other";
        return { resolver: url, name: t.name, type: t.type, state, answer: data.join(" ") };
      }),
    ),
  );
  const n = (s: string) => rows.filter((r) => r.state === s).length;
  const silent = rows.length > 0 && n("error") === rows.length;
  const reasons = [...new Set(rows.map((r) => r.answer))].slice(0, 3).join("; ");
  return {
    complete: true,
    summary: `${n("new")}/${rows.length} answers new, ${n("old")} old, ${n("error")} errors`,
    detail: rows,
    ...(silent
      ? { warning: `no DoH resolver answered (${check.resolvers.length} asked: ${reasons}); propagation was not seen` }
      : {}),
  };
}

export function runEdgeStep(env: EdgeEnv, plan: EdgePlanData, step: EdgeStepSpec): Promise<StepRunResult> {
  if (step.kind === "check") return runCheck(step.check);
  return runChanges(env, plan, step);
}
