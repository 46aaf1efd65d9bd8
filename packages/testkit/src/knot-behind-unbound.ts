import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startKnot, type KnotServer } from "./knot.js";
import { startUnbound, type Unbound } from "./unbound.js";

export interface KnotBehindUnbound {
  knot: KnotServer;
  /** The resolvers, each with a cache of its own, all asking `knot` for the zones. */
  resolvers: Unbound[];
  /** Writes `zone`'s new text and has Knot load it: the move the resolvers' caches lag behind. */
  replaceZone(zone: string, text: string): Promise<void>;
  /** Stops the resolvers and Knot and removes their directories. */
  stop(): Promise<void>;
}

/**
 * The propagation tests' world: a real Knot serving `zones` and `count` real Unbounds (each in a temp dir of
 * its own) with stub zones pointing at it. A test primes some resolvers' caches, calls `replaceZone`, and
 * compares what each resolver answers.
 */
export async function startKnotBehindUnbound(zones: Record<string, string>, count = 2): Promise<KnotBehindUnbound> {
  const knot = await startKnot(zones);
  const resolvers: Unbound[] = [];
  const dirs: string[] = [];
  const stop = async () => {
    for (const r of resolvers) await r.stop();
    await knot.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  };
  try {
    const stubs = Object.fromEntries(Object.keys(zones).map((z) => [z, [`127.0.0.1:${knot.port}`]]));
    for (let i = 0; i < count; i++) {
      dirs.push(await mkdtemp(join(tmpdir(), `cutover-unbound-${process.pid}-`)));
      resolvers.push(await startUnbound(dirs[i]!, stubs));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    knot,
    resolvers,
    async replaceZone(zone, text) {
      await writeFile(knot.zoneFile(zone), text);
      await knot.knotc("-b", "zone-reload", zone);
    },
    stop,
  };
}
