import type { ProviderCapabilities } from "../changes.js";

export interface SnappedTtl {
  ttl: number;
  /** Set when the provider could not take the asked value: says what was done and why. */
  note?: string;
}

/** The TTL a provider will actually serve for the asked value: raised to its minimum, rounded up to its steps. */
export function snapTtl(asked: number, caps: Pick<ProviderCapabilities, "minTtl" | "maxTtl" | "ttlSteps">): SnappedTtl {
  let ttl = Math.max(asked, caps.minTtl);
  let why = ttl !== asked ? `the provider's minimum is ${caps.minTtl}` : "";
  if (caps.ttlSteps && caps.ttlSteps.length > 0) {
    const steps = [...caps.ttlSteps].filter((s) => s > 0).sort((a, b) => a - b);
    const up = steps.find((s) => s >= ttl) ?? steps[steps.length - 1]!;
    if (up !== ttl) why = `the provider only accepts ${steps.join(", ")}`;
    ttl = up;
  }
  ttl = Math.min(ttl, caps.maxTtl);
  return ttl === asked ? { ttl } : { ttl, note: `TTL ${asked} snapped to ${ttl} (${why})` };
}
