/**
 * Zero data loss, compared: the sync scenario (test/scenario/_sync-world.ts: network namespaces, real
 * MariaDB, OpenSSH, rsync; four clients writing a row and a file per request, two delivering mail over SMTP
 * into maildirs, each over fresh connections) once
 * with cutover (the relay holds new connections while the final sync runs) and once with each procedure it
 * replaces, as migration scripts write them:
 *   stop-copy-forward  stop the app; rsync + mysqldump | ssh mysql; socat TCP-LISTEN:80,fork,reuseaddr TCP:NEW:80
 *   copy-stop-forward  rsync + mysqldump while the app runs (short downtime); stop the app; socat
 * Prints, per procedure: writes acknowledged, acknowledged writes missing on the new host (rows, files),
 * failed requests, the slowest write (cutover: the hold window). Runs alternate.
 *
 *   npm run build && sudo npx tsx bench/sync/compare.ts [--runs 1] [--mode dump|replication]
 *
 * About 30 s per run.
 */
import { runSyncMove, type SyncMoveResult, type SyncProcedure } from "../../test/scenario/_sync-world.js";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const RUNS = Number(arg("runs", "1"));
const MODE = arg("mode", "dump") as "dump" | "replication";
const PROCEDURES: SyncProcedure[] = ["cutover", "stop-copy-forward", "copy-stop-forward"];

const results = new Map<SyncProcedure, SyncMoveResult[]>(PROCEDURES.map((p) => [p, []]));
for (let run = 1; run <= RUNS; run++)
  for (const procedure of PROCEDURES) {
    // The replaced procedures copy with a dump (a manual promotion would not wait for the replica either).
    const r = await runSyncMove({ mode: procedure === "cutover" ? MODE : "dump", procedure });
    results.get(procedure)!.push(r);
    console.error(`run ${run}: ${r.summary}`);
  }

const cell = (rs: SyncMoveResult[], f: (r: SyncMoveResult) => string) => rs.map(f).join(" / ");
const rows = [
  [
    "procedure",
    "writes acknowledged",
    "acknowledged, not on the new host (rows / files / mails)",
    "failed requests",
    "slowest write",
  ],
  ...PROCEDURES.map((p) => {
    const rs = results.get(p)!;
    return [
      p === "cutover" ? `cutover (hold + sync, mysql ${MODE})` : `${p} (socat, mysqldump)`,
      cell(rs, (r) => String(r.writers.acked.length)),
      cell(rs, (r) => `${r.lostRows.length} / ${r.lostFiles.length} / ${r.lostMail.length}`),
      cell(rs, (r) => String(r.writers.failures.length)),
      cell(
        rs,
        (r) =>
          `${(r.writers.slowest.ms / 1000).toFixed(1)} s${r.handover ? ` (hold window ${((r.handover.hold?.windowMs ?? 0) / 1000).toFixed(1)} s)` : ""}`,
      ),
    ];
  }),
];
console.log(`| ${rows[0]!.join(" | ")} |\n|${rows[0]!.map(() => "---").join("|")}|`);
for (const r of rows.slice(1)) console.log(`| ${r.join(" | ")} |`);
