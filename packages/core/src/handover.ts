/**
 * What the relay reports of a handover (its `status` on the admin socket), which the runners journal as the
 * handover's result and the views and the report read back: the mode, the hold of new connections, the
 * final sync. Defined here, beside the journal, since the relay ships alone and the CLI reads its reports.
 */

export interface HandoverStatus {
  mode: "none" | "rebind" | "redirect";
  /**
   * `holding`: the relay owns the ports and holds new connections while the services stop and the sync
   * runs; `aborted`: the hold was aborted, the old services run again and got the held connections.
   */
  state: "waiting" | "holding" | "done" | "failed" | "aborted";
  at: string | null;
  /** rebind: the longest time a port was seen unbound before the relay got it (upper bound of the gap). */
  gapMs: number | null;
  firewall: string | null;
  rules: string[];
  stopped: string[];
  error: string | null;
  /** With a hold: the connections held while the final sync ran. */
  hold?: HoldStatus;
  /** With a sync: its steps and figures. */
  sync?: SyncReport;
}

export interface HoldStatus {
  state: "off" | "holding" | "released" | "aborted";
  startedAt: string | null;
  endedAt: string | null;
  /** How long the hold lasted (or lasts so far). */
  windowMs: number | null;
  /** Held at this moment. */
  heldNow: number;
  /** Held in all. */
  held: number;
  /** Refused because maxConnections were held already. */
  refused: number;
  /** The longest any connection waited (held now included), from its arrival to its upstream connect. */
  longestWaitMs: number;
  maxConnections: number;
  maxMs: number;
  onTimeout: "release" | "abort";
  /** Why the hold ended: the sync finished, failed, or time was up. */
  outcome: "synced" | "sync-failed" | "timeout" | "stopped" | null;
  /** Where the held connections went: the new host (`upstream`) or the old services again. */
  releasedTo: "upstream" | "old-services" | null;
  /** Held connections whose upstream could not be reached at the release. */
  failed: number;
}

export interface SyncStepReport {
  name: string;
  kind: "files" | "mysql-dump" | "mysql-replication" | "command";
  state: "pending" | "running" | "done" | "failed";
  /** Bytes copied: rsync's transferred file size, or the dump's size. */
  bytes: number;
  /** Files rsync transferred. */
  files: number;
  /** Rows in the dumped tables (counted on the old server once writes stopped). */
  rows: number;
  durationMs: number | null;
  /** What was done, in one line (e.g. the replica's final position). */
  detail: string | null;
  error: string | null;
}

export interface SyncReport {
  state: "waiting" | "running" | "done" | "failed" | "timeout";
  startedAt: string | null;
  durationMs: number | null;
  bytes: number;
  files: number;
  rows: number;
  steps: SyncStepReport[];
  error: string | null;
}
