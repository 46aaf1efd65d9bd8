import { describe, expect, test } from "vitest";
import { runSyncMove } from "./_sync-world.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/**
 * Zero data loss: clients keep writing through the move (each web write a row in MariaDB through the app's
 * `localhost` socket user and a file under the web root, each mail a message delivered over SMTP into a
 * maildir, all acknowledged with their id). The relay, started from
 * the plan as on the old host, holds new connections from the moment it owns port 80, stops the app
 * gracefully, copies the web root (rsync over SSH, after a warm pass by hand) and the database (mysqldump
 * into the new server over SSH, or the replica caught up and promoted), then releases the held connections to
 * the new host. Every acknowledged write must be on the new host afterwards, and no request may fail.
 * (bench/sync/compare.ts runs the procedures it replaces beside it.)
 */
describe.skipIf(!isRoot)("sync: every acknowledged write reaches the new host", () => {
  test.each(["dump", "replication"] as const)(
    "web writes (MariaDB rows, files) and mail (maildirs) through a redirect handover with a hold: mysql %s",
    async (mode) => {
      const r = await runSyncMove({ mode, procedure: "cutover" });
      const h = r.handover!;
      console.log(`sync scenario: ${r.summary}`);
      const context = `${r.summary}\n${r.relayOut}\nfailures: ${JSON.stringify(r.writers.failures.slice(0, 10))}`;
      expect(r.check!.code, `${r.check!.stdout}${r.check!.stderr}`).toBe(0);
      expect(r.check!.stdout).toMatch(/ok {3}sync tools on the new host \(rsync, mysql\)/);
      if (mode === "replication")
        expect(r.check!.stdout).toMatch(/ok {3}replica on the new host: running, \d+ s behind/);
      expect(r.warm!.code, r.warm!.stderr).toBe(0);
      expect((JSON.parse(r.warm!.stdout) as { files: number }).files).toBe(50);
      expect(h.state, context).toBe("done");
      expect(h.hold, context).toMatchObject({
        state: "released",
        outcome: "synced",
        releasedTo: "upstream",
        refused: 0,
        failed: 0,
      });
      expect(h.hold.held, context).toBeGreaterThan(0);
      expect(h.sync, context).toMatchObject({ state: "done", steps: [{ state: "done" }, { state: "done" }] });
      expect(r.oldRows, context).toBeGreaterThan(0);
      expect(r.writers.failures, context).toEqual([]);
      expect(r.lostRows, context).toEqual([]);
      expect(r.lostFiles, context).toEqual([]);
      expect(r.lostMail, context).toEqual([]);
      expect(r.writers.acked.filter((a) => a.kind === "mail").length, context).toBeGreaterThan(0);
      // Writes acknowledged after the swap went to the new host.
      expect(
        r.writers.acked.some((a) => a.at > r.swapAt + 1000),
        context,
      ).toBe(true);
      if (mode === "replication") {
        // Promoted: replication cleared, writable.
        expect(r.newReadOnly).toBe("0");
        expect(r.newSlaveStatus).toBe("");
        expect(h.sync.steps[1].detail, context).toMatch(/replica reached GTID .*; promoted/);
      }
      // The option files' password never showed.
      expect(`${r.relayOut}${r.warm!.stdout}${r.check!.stdout}`).not.toContain("sync-secret-pw");
    },
    120_000,
  );
});
