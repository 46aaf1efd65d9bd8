/**
 * Crash-test failpoints: with CUTOVER_FAILPOINT=NAME the process kills itself (SIGKILL, no cleanup) when
 * it reaches NAME, e.g. `step.done:lower`, `zone-applied:swap` or `journal:step.done:swap` (the event is
 * in events.jsonl, state.json not yet written). Several names may be given, comma-separated. Used by the
 * crash-safety tests to prove that a run resumed from the journal ends exactly as an uninterrupted one.
 */
export function failpoint(name: string): void {
  const wanted = process.env.CUTOVER_FAILPOINT;
  if (wanted && wanted.split(",").includes(name)) process.kill(process.pid, "SIGKILL");
}
