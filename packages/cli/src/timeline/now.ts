import type { Session } from "./session.js";
import type { ChangeSet, ChangeStep } from "@cutover/core";
import { planMove } from "@cutover/core";

/**
 * A step's change set as it would be applied now: the run's move (from its journaled originals, as the
 * timeline plans it) with each change starting from the record as the provider has it now. What a dry run
 * shows as "before" (the timeline's own set says what the record was planned to be before the step).
 */
export async function changeSetNow(session: Session, step: ChangeStep): Promise<ChangeSet> {
  const { plan } = session.loaded;
  const current = [];
  for (const zone of plan.dns.zones) current.push(...(await session.provider.listRecords(zone)));
  const zones = new Set(plan.dns.zones);
  const move = planMove(
    session.state.originals.filter((r) => zones.has(r.zone)),
    { old: plan.old, new: plan.new },
    {
      names: plan.dns.records === "auto" ? undefined : plan.dns.records,
      lowTtl: plan.dns.lowTtl,
      capabilities: session.provider.capabilities,
      current,
    },
  );
  return move[step];
}
