/**
 * The relay's periodic sweeps over its open links: nothing is done per chunk and there is no timer per
 * connection; one interval per sweep walks every link.
 */
import type { ResolvedLimits } from "./config.js";
import type { Link } from "./forward.js";

/**
 * Idle connections: compares each link's byte count with the last one seen; a link whose count has not
 * changed for `idleTimeoutMs` is closed (with an error: by reset). Run every idleTimeoutMs / 4, a link is
 * closed between 1 and 1.25 × idleTimeoutMs idle.
 */
export function sweepIdle(links: Iterable<Link>, idleTimeoutMs: number, now: number): void {
  for (const link of links) {
    const bytes = link.bytes();
    if (bytes !== link.lastBytes) {
      link.lastBytes = bytes;
      link.lastChange = now;
    } else if (now - link.lastChange >= idleTimeoutMs) link.destroy(new Error(`idle for ${idleTimeoutMs} ms`));
  }
}

/**
 * TCP keepalive for the connections that last: turned on by a sweep every keepAliveMs / 2, so a silent
 * connection gets its first probe between 1 and 1.5 × keepAliveMs after it opened (see Link.keepAlive).
 */
export function sweepKeepAlive(links: Iterable<Link>, keepAliveMs: number): void {
  for (const link of links) link.keepAlive(keepAliveMs);
}

/** Read buffers of the fast path (raw.ts): a link idle since the last sweep gives its own back. */
export function sweepBuffers(links: Iterable<Link>): void {
  for (const link of links) link.releaseIdleBuffers?.();
}

/** How often each sweep runs (ms), or undefined when it is off. */
export function planSweeps(
  limits: Pick<ResolvedLimits, "idleTimeoutMs" | "keepAliveMs">,
  buffers: boolean,
): { idleMs: number | undefined; keepAliveMs: number | undefined; buffersMs: number | undefined } {
  return {
    idleMs: limits.idleTimeoutMs > 0 ? Math.min(60_000, Math.max(100, limits.idleTimeoutMs / 4)) : undefined,
    keepAliveMs: limits.keepAliveMs > 0 ? Math.max(500, limits.keepAliveMs / 2) : undefined,
    buffersMs: buffers ? 5_000 : undefined,
  };
}

export interface Sweeps {
  stop(): void;
}

/**
 * Starts the three sweeps over `links` (a live set: links come and go between rounds). The timers are
 * unref'd: they never keep the process alive. `buffers`: the fast path is in use (its links have buffers).
 */
export function startSweeps(
  links: Iterable<Link>,
  limits: Pick<ResolvedLimits, "idleTimeoutMs" | "keepAliveMs">,
  options: { buffers: boolean; now?: () => number },
): Sweeps {
  const now = options.now ?? Date.now;
  const every = planSweeps(limits, options.buffers);
  const timers: NodeJS.Timeout[] = [];
  if (every.idleMs !== undefined)
    timers.push(setInterval(() => sweepIdle(links, limits.idleTimeoutMs, now()), every.idleMs).unref());
  if (every.keepAliveMs !== undefined)
    timers.push(setInterval(() => sweepKeepAlive(links, limits.keepAliveMs), every.keepAliveMs).unref());
  if (every.buffersMs !== undefined) timers.push(setInterval(() => sweepBuffers(links), every.buffersMs).unref());
  return {
    stop() {
      for (const t of timers.splice(0)) clearInterval(t);
    },
  };
}
