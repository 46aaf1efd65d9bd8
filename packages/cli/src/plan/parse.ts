import { parsePlan as parseAnyPlan, type ParsedPlan as AnyParsedPlan, type ParsePlanOptions } from "@cutover/core/plan";
import { providerRegistry } from "@cutover/dns";
import type { Plan } from "./schema.js";

export type ParsedPlan = AnyParsedPlan<Plan>;

/**
 * Parses and validates a plan file (core's `parsePlan`) with every provider this build carries. Every problem
 * is thrown at once as a `PlanError` (`@cutover/core/plan`) whose lines read `file:LINE:COL path: message`.
 */
export function parsePlan(
  text: string,
  options: Omit<ParsePlanOptions<typeof providerRegistry>, "providers">,
): ParsedPlan {
  return parseAnyPlan(text, { ...options, providers: providerRegistry });
}
