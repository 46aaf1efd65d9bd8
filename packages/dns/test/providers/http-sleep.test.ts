import { getEventListeners } from "node:events";
import { expect, it } from "vitest";
import { realSleep } from "../../src/providers/_http.js";

it("a wait leaves no listener on the signal it was given (a run's signal outlives every retry's wait)", async () => {
  const signal = new AbortController().signal;
  for (let i = 0; i < 20; i++) await realSleep(1, signal);
  expect(getEventListeners(signal, "abort")).toHaveLength(0);
});

it("an abort still ends a wait at once", async () => {
  const ac = new AbortController();
  const wait = realSleep(60_000, ac.signal);
  ac.abort(new Error("stop"));
  await expect(wait).rejects.toThrow("stop");
});
