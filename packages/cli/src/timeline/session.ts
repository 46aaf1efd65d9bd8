import { createTwoFilesPatch } from "diff";
import type { DnsProvider } from "@cutover/dns";
import { UserError } from "../errors.js";
import { loadPlan, type LoadedPlan } from "../plan/load.js";
import { createProviderForPlan } from "../plan/provider.js";
import { failpoint } from "../state/failpoint.js";
import { acquireLock, type Lock } from "../state/lock.js";
import { hashPlanText, stateDirFor, StateStore } from "../state/store.js";
import { timelineOf } from "./run.js";
import { redactPlanText } from "@cutover/core/plan";
import { formatPlanTime, planTimeline, type Timeline } from "@cutover/core";
import type { RunState } from "@cutover/core/journal";

export interface Session {
  loaded: LoadedPlan;
  store: StateStore;
  state: RunState;
  timeline: Timeline;
  provider: DnsProvider;
  lock: Lock | undefined;
  /** True when this call created the journal. */
  created: boolean;
  /** What reading the journal had to repair (state.json rebuilt from events.jsonl, a cut last line): say it. */
  notes: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  file: string | undefined;
  cwd: string;
  env: Record<string, string | undefined>;
  now: Date;
  stateDir?: string | undefined;
  acceptRisk?: boolean;
  /** Start a run whose steps exceed the plan's change limits. */
  force?: boolean;
  /** The command taking the lock (shown to a second runner); omit to open read-only without a lock. */
  lockFor?: string;
  /** Create the journal when there is none (run, tick, schedule); status and rollback do not. */
  create?: boolean;
  /** With `create`: plan a new run in memory and write nothing (`--dry-run`, `--print`). */
  dryRun?: boolean;
}

/** The options of a command that starts or continues a run (`run`, `tick`, `schedule`) from its flags. */
export function runSessionOptions(
  deps: { cwd: string; env: Record<string, string | undefined>; now: () => Date },
  file: string | undefined,
  flags: { state?: string | undefined; acceptRisk?: boolean | undefined; force?: boolean | undefined },
  extra: Pick<OpenOptions, "lockFor" | "create">,
): OpenOptions {
  return {
    file,
    cwd: deps.cwd,
    env: deps.env,
    now: deps.now(),
    stateDir: flags.state,
    acceptRisk: flags.acceptRisk === true,
    force: flags.force === true,
    ...extra,
  };
}

function noRun(loaded: LoadedPlan, store: StateStore): UserError {
  return new UserError(`no run of ${loaded.plan.name} has started (no journal in ${store.dir})`, {
    code: "E_NO_RUN",
    details: ["start it with `cutover run` (foreground) or `cutover schedule` (systemd, at or the edge)"],
  });
}

/**
 * The plan text's difference from the journaled one, as a unified diff. Both sides are redacted (the
 * journal keeps the text without its secrets, and a journal from before that did not).
 */
export function planDiff(state: RunState, text: string, file: string): string {
  const before = redactPlanText(state.plan.text);
  const after = redactPlanText(text);
  if (before === after && hashPlanText(text) !== state.plan.hash)
    return `--- ${file} (as the run started)\n+++ ${file} (now)\n only a secret value changed (notify.webhook or notify.command; not shown)\n`;
  return createTwoFilesPatch(`${file} (as the run started)`, `${file} (now)`, before, after, "", "", {
    context: 2,
  });
}

/**
 * Opens a plan's run: loads and validates the plan, takes the runner lock, and reads the journal or
 * (with `create`) starts one by reading the original records and journaling them before any change.
 * A plan edited since the run started is refused with the difference until it is re-planned.
 */
export async function openSession(o: OpenOptions): Promise<Session> {
  const loaded = await loadPlan(o.file, { cwd: o.cwd, now: o.now, allowPastSwap: true });
  const store = new StateStore(stateDirFor(loaded.path, loaded.plan.name, o.stateDir, o.cwd));
  let lock: Lock | undefined;
  if (o.lockFor) {
    await store.ensureDir();
    lock = await acquireLock(store.lockPath, o.lockFor, o.now);
  }
  // Read once, under the lock; a command that needs a run under way says so before asking for credentials.
  let loadedState;
  try {
    // Read-only openers do not touch the files (no rebuild written without the lock).
    loadedState = await store.load({ repair: o.lockFor !== undefined });
  } catch (error) {
    await lock?.release();
    throw error;
  }
  let state = loadedState.state;
  const notes = [loadedState.rebuilt, loadedState.repaired].filter((x): x is string => x !== undefined);
  if (!o.create && !state) {
    await lock?.release();
    throw noRun(loaded, store);
  }
  let provider: DnsProvider;
  try {
    provider = await createProviderForPlan(loaded, o.env);
  } catch (error) {
    await lock?.release(); // a missing token must not leave the run locked
    throw error;
  }
  const close = async () => {
    await provider.close?.();
    await lock?.release();
  };
  try {
    let created = false;
    if (state) {
      const hash = hashPlanText(loaded.text);
      if (hash !== state.plan.hash) {
        throw new UserError(
          `${loaded.file} has changed since this run started; the run will not act on a plan it has not shown you`,
          {
            code: "E_PLAN_CHANGED",
            details: [
              ...planDiff(state, loaded.text, loaded.file).split("\n").slice(2),
              "re-plan with `cutover plan --accept-changes` to continue with the edited plan",
            ],
          },
        );
      }
    } else {
      state = await startJournal(loaded, store, provider, o.now, o.acceptRisk === true, o.force === true, !o.dryRun);
      created = true;
    }
    const timeline = timelineOf(loaded, state, provider.capabilities);
    // Re-validate: a stored swap time in the past is fine for a run that is under way.
    return { loaded, store, state, timeline, provider, lock, created, notes, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function startJournal(
  loaded: LoadedPlan,
  store: StateStore,
  provider: DnsProvider,
  now: Date,
  acceptRisk: boolean,
  force: boolean,
  write = true,
): Promise<RunState> {
  if (loaded.plan.schedule.swapAt.getTime() <= now.getTime()) {
    throw new UserError(
      `${loaded.file}: schedule.swapAt ${formatPlanTime(loaded.plan.schedule.swapAt)} is in the past; pick a future time to start a run`,
      {
        code: "E_PLAN_PAST",
      },
    );
  }
  const records = [];
  for (const zone of loaded.plan.dns.zones) records.push(...(await provider.listRecords(zone)));
  const result = planTimeline(loaded.plan, records, now, { capabilities: provider.capabilities, acceptRisk });
  if (result.ok && result.timeline.limits.length > 0 && !force) {
    throw new UserError(`${loaded.file}: this move changes more records than the plan allows without --force`, {
      code: "E_TOO_MANY_CHANGES",
      details: [
        ...result.timeline.limits,
        "check the changes with `cutover plan`, then start with --force (or raise dns.maxChanges)",
      ],
    });
  }
  if (!result.ok) {
    const details = [...result.problems];
    if (result.earliestSafeSwap)
      details.push(`earliest safe swap: ${formatPlanTime(result.earliestSafeSwap)} (or pass --accept-risk)`);
    throw new UserError(`${loaded.file}: ${result.reason}`, { code: "E_PLAN_UNSAFE", details });
  }
  const state: RunState = {
    version: 1,
    name: loaded.plan.name,
    plan: {
      file: loaded.path,
      hash: hashPlanText(loaded.text),
      // Without its secrets (a webhook's token): the journal and state.json never hold one.
      text: redactPlanText(loaded.text),
      plannedAt: now.toISOString(),
      acceptRisk,
    },
    // The SPF records are originals too: restore and rollback give back their exact text; and the staying
    // members of a moving RRset, whose TTL is lowered with it.
    originals: [...result.timeline.targets, ...result.timeline.siblings, ...result.timeline.spf],
    steps: {},
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  if (!write) return state;
  await store.ensureDir();
  // The originals go to the journal before anything changes; with the plan's details, the journal alone
  // rebuilds the run (state.json is its cache).
  await store.append({
    at: now.toISOString(),
    type: "run.created",
    plan: loaded.plan.name,
    hash: state.plan.hash,
    planInfo: state.plan,
    originals: state.originals,
  });
  failpoint("journal:run.created");
  await store.write(state);
  return state;
}

/** `cutover plan --accept-changes`: adopt the edited plan for a run under way, keeping the journaled originals. */
export async function acceptPlanChanges(o: OpenOptions): Promise<{ diff: string; state: RunState } | undefined> {
  const loaded = await loadPlan(o.file, { cwd: o.cwd, now: o.now, allowPastSwap: true });
  const store = new StateStore(stateDirFor(loaded.path, loaded.plan.name, o.stateDir, o.cwd));
  const peek = await store.load({ repair: false });
  if (!peek.state) return undefined;
  const hash = hashPlanText(loaded.text);
  if (hash === peek.state.plan.hash) return { diff: "", state: peek.state };
  const lock = await acquireLock(store.lockPath, "plan --accept-changes", o.now);
  try {
    const state = (await store.load()).state ?? peek.state;
    const provider = await createProviderForPlan(loaded, o.env);
    const result = planTimeline(loaded.plan, state.originals, new Date(state.plan.plannedAt), {
      capabilities: provider.capabilities,
      acceptRisk: state.plan.acceptRisk || o.acceptRisk === true,
    });
    await provider.close?.();
    if (!result.ok)
      throw new UserError(`${loaded.file}: ${result.reason}`, { code: "E_PLAN_UNSAFE", details: result.problems });
    const diff = planDiff(state, loaded.text, loaded.file);
    await store.record(state, {
      at: o.now.toISOString(),
      type: "plan.accepted",
      hash,
      text: redactPlanText(loaded.text),
      acceptRisk: state.plan.acceptRisk || o.acceptRisk === true,
      diff,
    });
    return { diff, state };
  } finally {
    await lock.release();
  }
}
