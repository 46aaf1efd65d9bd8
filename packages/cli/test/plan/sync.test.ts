import { describe, expect, test } from "vitest";
import { parseRelayConfig } from "@cutover/relay";
import { parsePlan } from "../../src/plan/parse.js";
import { planRelayConfig } from "../../src/old-host/relay-config.js";
import { syncSummary } from "../../src/timeline/relay.js";
import { PlanError } from "@cutover/core/plan";
import { stepSummary } from "../../src/output/summary.js";
import { planTimeline } from "@cutover/core";

const NOW = new Date("2027-11-29T10:00:00Z");

const BASE = `name: colo-to-linode
old: { ipv4: 198.51.100.10, ssh: root@198.51.100.10 }
new: { ipv4: 203.0.113.20, ssh: "root@203.0.113.20:2222" }
dns:
  provider: zonefile
  zones: [example.com]
  files: { example.com: zones/example.com.zone }
schedule:
  swapAt: 2027-12-01T14:00:00Z
handover: { stopServices: [postfix, nginx] }
relay:
  ports: [25, 80]
  proxyProtocol: { 25: v2 }
`;

const SYNC = `sync:
  files:
    - /var/www
    - { path: /var/vmail, delete: true }
  mysql: { mode: dump, databases: [shop, mail], optionsFile: /root/move.cnf }
  ssh: { identity: /root/.ssh/id_move, knownHosts: /root/.ssh/known_hosts }
`;

function problems(text: string): string[] {
  try {
    parsePlan(text, { file: "cutover.yaml", now: NOW });
  } catch (error) {
    if (error instanceof PlanError) return [...error.details];
    throw error;
  }
  return [];
}

describe("the plan's sync section", () => {
  test("becomes the relay's hold and its final sync: files first, then the dump, over new.ssh", () => {
    const { plan } = parsePlan(BASE + SYNC, { file: "cutover.yaml", now: NOW });
    const config = planRelayConfig(plan, { adminPath: "/run/x.sock" });
    expect(parseRelayConfig(config)).toBe(config);
    const ssh = {
      target: "root@203.0.113.20",
      port: 2222,
      identity: "/root/.ssh/id_move",
      knownHosts: "/root/.ssh/known_hosts",
    };
    expect(config.handover).toMatchObject({
      hold: { maxConnections: 1000, maxMs: 30_000, onTimeout: "release" },
      sync: [
        { kind: "files", paths: [{ from: "/var/www" }, { from: "/var/vmail", delete: true }], ssh },
        {
          kind: "mysql-dump",
          databases: ["shop", "mail"],
          optionsFile: "/root/move.cnf",
          newOptionsFile: "/root/.my.cnf",
          ssh,
        },
      ],
    });
    // No credential anywhere in what the relay gets: only the option files' paths.
    expect(JSON.stringify(config)).not.toMatch(/password/i);
  });

  test("the timeline gains the warm pass, and the handover says what it holds", () => {
    const { plan } = parsePlan(
      BASE + SYNC.replace("sync:\n", "sync:\n  warmBefore: 2h\n  maxHold: 45s\n  onTimeout: abort\n"),
      {
        file: "cutover.yaml",
        now: NOW,
      },
    );
    const records = [
      { zone: "example.com", name: "example.com", type: "A" as const, ttl: 3600, content: "198.51.100.10", id: "1" },
    ];
    const r = planTimeline(plan, records, NOW, {
      capabilities: { batch: false, atomicSwap: false, minTtl: 1 } as never,
    });
    if (!r.ok) throw new Error(r.reason);
    const warm = r.timeline.steps.find((s) => s.kind === "sync")!;
    expect(warm.at.toISOString()).toBe("2027-12-01T12:00:00.000Z");
    expect(warm.label).toBe("T-2h");
    expect(stepSummary(r.timeline.steps.find((s) => s.kind === "handover")!)).toMatch(
      /new connections held \(≤ 45s, then abort\) while the final sync runs \(files, mysql dump\)/,
    );
  });

  test("every mistake at once, each with its line", () => {
    const bad = `${BASE.replace(' ssh: "root@203.0.113.20:2222"', "")}sync:
  files: [/var/www, var/mail, /var/www]
  mysql: { mode: replication, databases: [shop] }
  maxHold: 2h
  onTimeout: later
`;
    expect(problems(bad)).toEqual([
      expect.stringMatching(/^cutover\.yaml:15:21 sync\.files\[1\]: a path on the host is absolute/),
      expect.stringMatching(/^cutover\.yaml:17:12 sync\.maxHold: maxHold is from 1s to 1h/),
      expect.stringMatching(/^cutover\.yaml:18:14 sync\.onTimeout: sync\.onTimeout is "release" or "abort"/),
    ]);
    const bad2 = `${BASE.replace(' ssh: "root@203.0.113.20:2222"', "")}sync:
  files: [/var/www, /var/www]
  mysql: { mode: replication, databases: [shop] }
`;
    expect(problems(bad2)).toEqual([
      "cutover.yaml:15:3 sync: the old host copies to the new one over SSH: give new.ssh, e.g. root@203.0.113.20",
      "cutover.yaml:15:21 sync.files[1]: /var/www is listed twice",
      "cutover.yaml:16:42 sync.mysql.databases: mode replication promotes the whole replica: remove databases",
    ]);
  });

  test("status and the report say what was held, for how long, and what the sync copied", () => {
    const base = {
      mode: "redirect" as const,
      state: "done" as const,
      at: null,
      gapMs: null,
      firewall: "nft",
      rules: [],
      stopped: ["app"],
      error: null,
    };
    expect(syncSummary(base)).toBeUndefined();
    const line = syncSummary({
      ...base,
      hold: {
        state: "released",
        startedAt: "",
        endedAt: "",
        windowMs: 3313,
        heldNow: 0,
        held: 4,
        refused: 0,
        longestWaitMs: 3297,
        maxConnections: 1000,
        maxMs: 30000,
        onTimeout: "release",
        outcome: "synced",
        releasedTo: "upstream",
        failed: 0,
      },
      sync: {
        state: "done",
        startedAt: "",
        durationMs: 2186,
        bytes: 16105,
        files: 261,
        rows: 263,
        error: null,
        steps: [],
      },
    });
    expect(line).toBe(
      "4 connections held for a 3313 ms window (longest wait 3297 ms); sync done in 2186 ms: 261 files, 16105 bytes, 263 rows; synced, released to the new host",
    );
  });
});
