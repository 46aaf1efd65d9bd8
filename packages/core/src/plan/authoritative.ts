import { parseServerSpec } from "../servers.js";
import type { AnyPlan } from "./schema.js";

/**
 * Where the plan finds the zones' authoritative servers (`propagation.authoritative`): the watch asks them,
 * and the DNS steps read their change back from them. Undefined when the plan says `authoritative: false`.
 */
export function authoritativeOf(plan: Pick<AnyPlan, "propagation">) {
  const auth = plan.propagation.authoritative;
  if (auth === false) return undefined;
  return {
    ...(auth.bootstrap ? { bootstrap: parseServerSpec(auth.bootstrap) } : {}),
    ...(auth.nsAddresses ? { nsAddresses: auth.nsAddresses } : {}),
    ...(auth.parent === false ? { parent: false as const } : {}),
  };
}
