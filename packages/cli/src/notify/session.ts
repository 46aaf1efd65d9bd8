import type { Reporter } from "../output/reporter.js";
import type { Deps } from "../context.js";
import { openSession, runSessionOptions, type Session } from "../timeline/session.js";
import type { DeliverOptions } from "./deliver.js";
import type { Runner } from "./event.js";
import { createNotifier, notifyTargets, parseNotifyUrl, type Notifier } from "./notifier.js";

/** How long a runner waits for its last deliveries before it exits (they never hold up a step). */
export const FLUSH_MS = 30_000;

/**
 * The notifier of a runner (`run`, `tick`, `demo`): the plan's `notify:` targets and `--notify URL`,
 * told of every journal event of this session. Undefined when nothing is to be notified.
 */
export async function notifierForSession(
  session: Session,
  o: {
    runner: Runner;
    env: Record<string, string | undefined>;
    flagUrl?: string | undefined;
    out: Reporter;
    deliver?: DeliverOptions;
  },
): Promise<Notifier | undefined> {
  const flagUrl = o.flagUrl === undefined ? undefined : parseNotifyUrl(o.flagUrl);
  const { targets, warnings } = notifyTargets(session.loaded.plan, o.env, flagUrl, session.loaded.dir);
  for (const w of warnings) o.out.warn(w);
  if (targets.length === 0) return undefined;
  const notifier = await createNotifier({
    stateDir: session.store.dir,
    runner: o.runner,
    targets,
    timeline: session.timeline,
    state: session.state,
    plan: session.loaded.plan,
    ...(o.deliver ? { deliver: o.deliver } : {}),
    onDelivery: (r) => {
      if (!r.ok)
        o.out.warn(`notification ${r.type}${r.step ? ` (${r.step})` : ""} to ${r.target} not delivered: ${r.error}`);
    },
  });
  session.store.observe((e) => notifier.journal(e));
  return notifier;
}

/**
 * A runner's session (`run`, `tick`): the plan and its journal, locked and created when there is none, with
 * its notifier. The session is closed again when the notifier cannot be made.
 */
export async function openRunnerSession(
  deps: Deps,
  file: string,
  opts: {
    state?: string | undefined;
    acceptRisk?: boolean | undefined;
    force?: boolean | undefined;
    notify?: string | undefined;
  },
  runner: "run" | "tick",
  out: Reporter,
): Promise<{ session: Session; notifier: Notifier | undefined }> {
  const session = await openSession(runSessionOptions(deps, file, opts, { lockFor: runner, create: true }));
  try {
    const notifier = await notifierForSession(session, {
      runner,
      env: deps.env,
      flagUrl: opts.notify,
      out,
      ...(deps.hooks?.notify ? { deliver: deps.hooks.notify } : {}),
    });
    return { session, notifier };
  } catch (error) {
    await session.close();
    throw error;
  }
}
