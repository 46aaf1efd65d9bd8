import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { providerDefinition, tokenFrom, writeFileAtomic } from "@cutover/dns";
import {
  cancelEdge,
  checkEdgeUpload,
  deployEdge,
  describeMetadata,
  describeUploadSizes,
  edgeScriptName,
  edgeStatus,
  planEdgeDeployment,
  readWorkerBundle,
  removeEdge,
  tokenBindingFor,
  type EdgeApiOptions,
  type EdgeDeployment,
  type EdgeHandle,
  type EdgeStatusBody,
  WORKER_LIMITS,
} from "@cutover/edge";
import type { Deps } from "../context.js";
import { UserError } from "../errors.js";
import type { Reporter } from "../output/reporter.js";
import { formatUtc } from "../output/timeline.js";
import type { Session } from "../timeline/session.js";
import { count } from "../output/words.js";
import { stepSummary } from "../output/summary.js";

/**
 * What the admin's machine keeps about a deployed Worker (mode 0600, beside the journal; not in it). It is
 * written as soon as Cloudflare has taken the upload, before the Worker is first called, and a redeploy
 * uploads the same control token again, so no failure after an upload can lock the admin out.
 */
interface EdgeRecord {
  scriptName: string;
  url: string;
  accountId: string;
  controlToken: string;
  deployedAt: string;
}

export interface ScheduleEdgeOptions {
  dryRun: boolean;
  remove?: boolean | undefined;
  accountId?: string | undefined;
}

const recordPath = (session: Session) => join(session.store.dir, "edge.json");

async function readRecord(session: Session): Promise<EdgeRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordPath(session), "utf8")) as EdgeRecord;
  } catch {
    return undefined;
  }
}

/** The Workers API settings: account from --account-id, CLOUDFLARE_ACCOUNT_ID or dns.accountId; the deploy token. */
function apiOptions(
  session: Session,
  deps: Deps,
  accountId: string | undefined,
  need: "deploy" | "plan",
): EdgeApiOptions {
  const dns = session.loaded.plan.dns as { accountId?: string };
  const account = accountId ?? deps.env.CLOUDFLARE_ACCOUNT_ID ?? dns.accountId;
  const token = deps.env.CLOUDFLARE_WORKERS_TOKEN;
  if (need === "deploy" && !account) {
    throw new UserError("no Cloudflare account for the Worker", {
      code: "E_EDGE_ACCOUNT",
      details: [
        "pass --account-id, set CLOUDFLARE_ACCOUNT_ID, or set dns.accountId in the plan (dashboard → Workers & Pages → Account ID)",
      ],
    });
  }
  if (need === "deploy" && !token) {
    throw new UserError("no deploy token: set CLOUDFLARE_WORKERS_TOKEN", {
      code: "E_EDGE_TOKEN",
      details: [
        "create an API token with Account › Workers Scripts › Edit for this account (docs/edge.md); it is used here and never uploaded",
      ],
    });
  }
  return {
    accountId: account ?? "(account)",
    apiToken: token ?? "",
    ...(deps.env.CLOUDFLARE_WORKERS_API_URL ? { baseUrl: deps.env.CLOUDFLARE_WORKERS_API_URL } : {}),
  };
}

/** The deployment for a session's timeline: the DNS steps not done yet, with their absolute times. */
export function planEdgeForSession(session: Session, now: Date): EdgeDeployment {
  const { plan } = session.loaded;
  const { state, timeline } = session;
  const done = Object.entries(state.steps)
    .filter(([, s]) => s?.status === "done")
    .map(([k]) => k);
  const resolvers =
    plan.propagation.resolvers === "default"
      ? undefined
      : plan.propagation.resolvers
          .map((r) => (typeof r === "string" ? r : r.server))
          .filter((r) => r.startsWith("https://"));
  const lowerDoneAt = state.steps.lower?.doneAt;
  return planEdgeDeployment({
    name: plan.name,
    provider: plan.dns.provider,
    apiUrl: plan.dns.apiUrl,
    batchSize: plan.dns.batchSize,
    zones: plan.dns.zones,
    swapAt: timeline.swapAt,
    steps: timeline.steps.map((s) => ({ ...s, summary: stepSummary(s) })),
    done,
    ...(lowerDoneAt ? { lowerDoneAt: new Date(lowerDoneAt) } : {}),
    rollback: timeline.rollback,
    originals: state.originals,
    ...(resolvers && resolvers.length > 0 ? { resolvers } : {}),
    ...(plan.notify?.webhook
      ? { notify: { webhook: { url: plan.notify.webhook.url, signed: plan.notify.webhook.secretEnv !== undefined } } }
      : {}),
    now,
  });
}

/**
 * The notification secrets the Worker gets as secret bindings (never in its plan module): the webhook's
 * URL, whose path may hold a token, and the signing secret from the variable the plan names.
 */
function notifySecrets(session: Session, deps: Deps): Record<string, string> {
  const hook = session.loaded.plan.notify?.webhook;
  if (!hook) return {};
  const out: Record<string, string> = { NOTIFY_WEBHOOK_URL: hook.url };
  if (hook.secretEnv !== undefined) {
    const secret = deps.env[hook.secretEnv];
    if (!secret)
      throw new UserError(`notify.webhook.secretEnv names ${hook.secretEnv}, which is not set: nothing was uploaded`, {
        code: "E_NOTIFY_SECRET",
        details: [`set ${hook.secretEnv} to the webhook's signing secret, or remove secretEnv to send unsigned`],
      });
    out.NOTIFY_SECRET = secret;
  }
  return out;
}

/**
 * `cutover schedule --with edge`: uploads the plan's DNS steps to a Cloudflare Worker (one Durable Object,
 * an alarm per step) and arms it; `--remove` cancels what is pending and deletes the Worker; `--dry-run`
 * prints what would be uploaded (metadata, binding names, step times) and changes nothing.
 */
export async function scheduleEdge(
  session: Session,
  out: Reporter,
  opts: ScheduleEdgeOptions,
  deps: Deps,
): Promise<void> {
  const name = edgeScriptName(session.loaded.plan.name);
  if (opts.remove) {
    const rec = await readRecord(session);
    const api = apiOptions(session, deps, opts.accountId ?? rec?.accountId, opts.dryRun ? "plan" : "deploy");
    if (opts.dryRun) {
      out.data({ dryRun: true, remove: name, accountId: api.accountId });
      out.line(`would cancel the pending steps of ${name} and delete the Worker`);
      return;
    }
    if (rec) {
      await cancelEdge(handleOf(rec, deps)).catch((e: Error) =>
        out.warn(`could not cancel ${name} before deleting it: ${e.message}`),
      );
    }
    const { removed } = await removeEdge({ ...api, scriptName: name });
    await rm(recordPath(session), { force: true });
    await session.store.append({ at: deps.now().toISOString(), type: "edge.removed", script: name, removed });
    out.data({ removed, script: name });
    out.line(
      removed ? `deleted the Worker ${name}; nothing runs at the edge any more` : `no Worker ${name} in this account`,
    );
    return;
  }
  const deployment = planEdgeForSession(session, deps.now());
  if (session.loaded.plan.notify?.command)
    out.warn("notify.command runs only on your own machines (run, tick): the Worker sends the webhook only");
  const steps = deployment.data.steps.map((s) => ({
    id: s.id,
    kind: s.kind,
    at: new Date(s.at).toISOString(),
    summary: s.summary,
  }));
  const code = await readWorkerBundle();
  // What Cloudflare would refuse is refused here, in the dry run as before an upload.
  const { sizes, problems } = checkEdgeUpload(deployment, code);
  const refuse = () =>
    new UserError(`Cloudflare would refuse the Worker ${name}: nothing was uploaded`, {
      code: "E_EDGE_LIMITS",
      details: [...problems, ...describeUploadSizes(sizes)],
    });
  if (opts.dryRun) {
    const api = apiOptions(session, deps, opts.accountId, "plan");
    if (problems.length > 0) throw refuse();
    out.data({
      dryRun: true,
      script: name,
      upload: `PUT /accounts/${api.accountId}/workers/scripts/${name}`,
      metadata: describeMetadata(deployment.metadata),
      modules: [deployment.mainModule, ...deployment.modules.map((m) => m.name)],
      sizes,
      limits: WORKER_LIMITS,
      secrets: deployment.secretNames,
      steps,
    });
    out.line(
      `would upload the Worker ${name} to account ${api.accountId} (modules ${[deployment.mainModule, ...deployment.modules.map((m) => m.name)].join(", ")}, Durable Object ${deployment.metadata.bindings[0]?.type === "durable_object_namespace" ? deployment.metadata.bindings[0].class_name : ""})`,
    );
    for (const l of describeUploadSizes(sizes)) out.line(l);
    out.line(`secrets (values not shown): ${deployment.secretNames.join(", ")}`);
    out.line("steps:");
    for (const s of deployment.data.steps) out.line(`  ${formatUtc(new Date(s.at))}  ${s.id.padEnd(8)} ${s.summary}`);
    out.line("metadata:");
    out.line(JSON.stringify(describeMetadata(deployment.metadata), null, 2));
    return;
  }
  if (problems.length > 0) throw refuse();
  const api = apiOptions(session, deps, opts.accountId, "deploy");
  const provider = session.loaded.plan.dns.provider;
  // The provider's token under whichever of its variables is set, bound under its first name (the Worker's).
  const definition = providerDefinition(provider);
  const dnsToken = definition ? tokenFrom(definition, deps.env)?.value : undefined;
  const binding = tokenBindingFor(provider);
  if (binding === undefined) throw new UserError(`dns.provider ${provider}: it declares no token variable to upload`);
  // The control token of an earlier deploy from here goes up again: the version still running knows it.
  const previous = await readRecord(session);
  const kept = previous?.scriptName === name ? previous.controlToken : undefined;
  const secrets = {
    [binding]: dnsToken,
    ...(kept ? { CONTROL_TOKEN: kept } : {}),
    ...notifySecrets(session, deps),
  };
  const result = await deployEdge({
    ...api,
    deployment,
    secrets,
    code,
    ...(deps.env.CUTOVER_EDGE_WORKER_URL ? { workerUrl: deps.env.CUTOVER_EDGE_WORKER_URL } : {}),
    sleep: (ms) => deps.sleep(ms),
    now: () => deps.now().getTime(),
    onUploaded: async (handle) => {
      const rec: EdgeRecord = {
        scriptName: name,
        url: handle.url,
        accountId: api.accountId,
        controlToken: handle.controlToken,
        deployedAt: deps.now().toISOString(),
      };
      await writeFileAtomic(recordPath(session), `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
    },
  });
  await session.store.append({
    at: deps.now().toISOString(),
    type: "edge.deployed",
    script: name,
    url: result.handle.url,
    steps: steps.map((s) => `${s.id} ${s.at}`),
  });
  out.data({
    script: name,
    url: result.handle.url,
    migration: result.migration,
    controlToken: kept ? "kept" : "new",
    startupTimeMs: result.startupTimeMs ?? null,
    sizes: result.sizes,
    steps,
    status: result.status,
  });
  out.line(`deployed ${name} (${result.handle.url}) and armed ${count(steps.length, "step")}:`);
  for (const s of deployment.data.steps) out.line(`  ${formatUtc(new Date(s.at))}  ${s.id.padEnd(8)} ${s.summary}`);
  out.line(
    `startup time ${result.startupTimeMs === undefined ? "not reported" : `${result.startupTimeMs} ms`} (Cloudflare's limit ${WORKER_LIMITS.startupMs} ms); ${describeUploadSizes(result.sizes)[0]}`,
  );
  out.line("follow it with `cutover status`; stop it with `cutover schedule --with edge --remove`");
}

/** A handle from the record; right after an upload a 401 from the old version is waited out (bounded). */
function handleOf(rec: EdgeRecord, deps?: Pick<Deps, "now" | "sleep">): EdgeHandle {
  const uploadedAt = Date.parse(rec.deployedAt);
  return {
    scriptName: rec.scriptName,
    url: rec.url,
    controlToken: rec.controlToken,
    ...(Number.isNaN(uploadedAt) ? {} : { uploadedAt }),
    ...(deps ? { now: () => deps.now().getTime(), sleep: (ms: number) => deps.sleep(ms) } : {}),
  };
}

/** For `cutover status`: the edge run of this plan, or undefined when none is deployed from here. */
export async function edgeStatusForSession(
  session: Session,
  deps?: Pick<Deps, "now" | "sleep">,
): Promise<{ status?: EdgeStatusBody; error?: string } | undefined> {
  const rec = await readRecord(session);
  if (!rec) return undefined;
  try {
    return { status: await edgeStatus(handleOf(rec, deps)) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** For `cutover rollback`: cancels the pending edge steps first, so no swap can fire after the rollback. */
export async function cancelEdgeForSession(
  session: Session,
  deps?: Pick<Deps, "now" | "sleep">,
): Promise<EdgeStatusBody | undefined> {
  const rec = await readRecord(session);
  return rec ? cancelEdge(handleOf(rec, deps)) : undefined;
}

/** Human lines for an edge status (used by `cutover status`). */
export function edgeStatusLines(out: Reporter, s: EdgeStatusBody): string[] {
  const { c } = out;
  const lines = [
    `${c.bold("Edge")}  ${s.state}${s.nextAlarm ? `, next alarm ${formatUtc(new Date(s.nextAlarm))}` : ""}`,
  ];
  for (const st of s.steps) {
    const mark = st.status === "done" ? c.green("done") : st.status === "failed" ? c.red("failed") : st.status;
    lines.push(
      `  ${formatUtc(new Date(st.at))}  ${st.id.padEnd(8)} ${mark}${st.attempts > 1 ? ` (${st.attempts} attempts)` : ""}${st.error ? `: ${st.error}` : ""}${st.warning ? ` ${c.yellow("warning:")} ${st.warning}` : ""}`,
    );
  }
  const n = s.notifications;
  if (n && n.deliveries.length > 0) {
    const count = (x: string) => n.deliveries.filter((d) => d.status === x).length;
    const failed = n.deliveries.filter((d) => d.status === "failed");
    lines.push(
      `  notifications to ${n.target}: last ${n.deliveries.length}: ${count("delivered")} delivered${count("pending") ? `, ${count("pending")} being retried` : ""}${failed.length ? `, ${c.red(`${failed.length} not delivered`)}` : ""}`,
    );
    for (const d of failed.slice(-3))
      lines.push(`    not delivered: ${d.type} after ${d.attempts} attempts: ${d.error ?? `HTTP ${d.httpStatus}`}`);
  }
  return lines;
}
