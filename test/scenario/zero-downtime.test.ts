import { describe, expect, test } from "vitest";
import { ADDR, runScenario, type Procedure, type ScenarioResult } from "./_world.js";

/**
 * The promise of the tool, shown: a whole move in network namespaces under continuous load, with real
 * services (nginx, MariaDB, Knot, Unbound, OpenSSH), run by the built CLI from the admin's laptop:
 * cutover plan → cutover relay deploy (over SSH, armed) → cutover run.
 *
 * CUTOVER_SCENARIO_PROCEDURE=socat replaces the relay with the socat lines of migration scripts (the
 * same hosts, load and timeline): the test must then fail, which is how it was checked that it can.
 */
const procedure = (process.env.CUTOVER_SCENARIO_PROCEDURE ?? "cutover") as Procedure;
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

describe.skipIf(!isRoot)("zero downtime: a whole move under continuous load, in network namespaces", () => {
  test(`moving www.example.test with ${procedure === "cutover" ? "cutover's relay" : "the socat procedure"}`, async () => {
    const r: ScenarioResult = await runScenario({ procedure });
    const context = () => `${r.log.join("\n")}\n--- run stdout (tail) ---\n${r.run.stdout.slice(-4000)}`;
    expect(r.run.code, context()).toBe(0);

    // Zero failed or refused requests, of every kind, from every client.
    expect(r.web.failures, context()).toEqual([]);
    expect(r.stale.failures, context()).toEqual([]);
    expect(r.mysql.failures, context()).toEqual([]);
    expect(r.web.byServer.old).toBeGreaterThan(0);
    expect(r.web.byServer.new).toBeGreaterThan(0);
    expect(r.stale.byServer.new).toBeGreaterThan(0); // the stale clients reached the new host through the relay

    // Every download complete and intact, some of them in flight at the handover.
    expect(r.web.downloads.length).toBeGreaterThan(0);
    expect(r.web.downloads.filter((d) => !d.intact)).toEqual([]);
    expect(r.web.downloads.some((d) => d.start < r.handoverAt && d.end > r.handoverAt)).toBe(true);

    // Zero failed MySQL queries; every write made after the handover is on the new MariaDB, and no write is lost.
    const writes = r.mysql.writes;
    expect(writes.every((w) => w.ok)).toBe(true);
    const after = writes.filter((w) => w.started > r.handoverAt);
    expect(after.length).toBeGreaterThan(0);
    const onNew = new Set(r.rows.new);
    const onOld = new Set(r.rows.old);
    expect(after.filter((w) => !onNew.has(w.id))).toEqual([]);
    expect(writes.filter((w) => !onNew.has(w.id) && !onOld.has(w.id))).toEqual([]);
    expect(writes.some((w) => onOld.has(w.id))).toBe(true); // before the handover they went to the old server

    // The relay's stale-client list names the stale clients.
    expect(r.staleClients).toContain(ADDR.stale);

    // The propagation report shows Unbound flipping from the old answer to the new one.
    expect(r.watch.length).toBeGreaterThan(1);
    expect(r.watch[0]!.progress).toBeLessThan(1);
    expect(r.watch.at(-1)!.progress).toBe(1);

    // After the drain: the relay is gone and no nftables rule of ours remains.
    expect(r.afterDrain.nftTable).toBeNull();
    expect(r.afterDrain.relayProcesses).toEqual([]);

    // After the restore: the TTL is back to 30 s, on the new address.
    expect(r.afterRestore.authoritative).toMatch(
      new RegExp(`^www\\.example\\.test\\.\\s+30\\s+IN\\s+A\\s+${ADDR.new.replaceAll(".", "\\.")}$`),
    );
    expect(r.afterRestore.resolver).toContain(ADDR.new);
  }, 360_000);
});
