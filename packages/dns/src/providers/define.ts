import type { ProviderDefinition } from "./types.js";
import type { OptionsShape } from "@cutover/core/plan";

/** Declares a provider (an identity that keeps the literal name and the options' types). */
export function defineProvider<N extends string, S extends OptionsShape>(
  definition: ProviderDefinition<N, S>,
): ProviderDefinition<N, S> {
  return definition;
}

/** The first of a provider's token variables that is set, with its name. */
export function tokenFrom(
  definition: Pick<ProviderDefinition, "tokens">,
  env: Record<string, string | undefined>,
): { name: string; value: string } | undefined {
  for (const name of definition.tokens) {
    const value = env[name];
    if (value) return { name, value };
  }
  return undefined;
}
