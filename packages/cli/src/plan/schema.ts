import { createPlanSchema, type PlanInputOf, type PlanOf } from "@cutover/core/plan";
import { providerRegistry } from "@cutover/dns";

/**
 * The plan file of this build: core's schema with every provider `@cutover/dns` registers (the `dns:` part is
 * one variant per provider, each with the options it declares in its own file).
 */
export const planSchema = /* @__PURE__ */ createPlanSchema(providerRegistry);

export type Plan = PlanOf<typeof providerRegistry>;
export type PlanInput = PlanInputOf<typeof providerRegistry>;
