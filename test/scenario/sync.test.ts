import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { CLI, ROOT } from "../_spawn.js";
import { createLab, type Lab } from "./_netns.js";
import { startMariadb, startSshd } from "./_services.js";

const run = promisify(execFile);
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const OLD = "198.51.100.10";
const NEW = "203.0.113.20";
const CLIENT = "192.0.2.50";
const APP = join(ROOT, "test/scenario/fixtures/sync-app.mjs");
const WRITERS = join(ROOT, "test/scenario/fixtures/sync-writers.mjs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Writers {
  acked: Array<{ id: string; at: number; ms: number }>;
  failures: Array<{ id: string; at: number; why: string }>;
  slowest: { ms: number; id: string };
}

/** `cutover ARGS` inside a host's namespace, as an admin runs it on the old host. */
function cutoverIn(lab: Lab, host: string, args: string[], cwd: string) {
  return run("ip", ["netns", "exec", lab.hosts[host]!.ns, process.execPath, CLI, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 60_000,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? 1,
      stdout: e.stdout ?? "",
      stderr: e.stderr ?? "",
    }),
  );
}

async function listening(lab: Lab, host: string, port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await lab.exec(host, ["ss", "-Htln", `sport = :${port}`])).stdout.includes(`:${port}`)) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${host}:${port}`);
}

/**
 * Zero data loss: clients keep writing through the move (each write a row in MariaDB through the app's
 * `localhost` socket user and a file under the web root, acknowledged with its id). The relay, started from
 * the plan as on the old host, holds new connections from the moment it owns port 80, stops the app
 * gracefully, copies the web root (rsync over SSH, after a warm pass by hand) and the database (mysqldump
 * into the new server over SSH), then releases the held connections to the new host. Every acknowledged
 * write must be on the new host afterwards, and no request may fail.
 */
describe.skipIf(!isRoot)("sync: every acknowledged write reaches the new host", () => {
  test.each(["dump", "replication"] as const)(
    "web writes (MariaDB rows and files) through a redirect handover with a hold: mysql %s",
    async (mode) => {
      const dir = await mkdtemp(join(tmpdir(), "cutover-sync-"));
      await chmod(dir, 0o755);
      const lab = await createLab({ old: OLD, new: NEW, client: CLIENT });
      let relay: ReturnType<typeof spawn> | undefined;
      try {
        const replication = mode === "replication";
        // replication: the old server writes a binary log and listens on its address; the new one replicates
        // everything from it (the app's database and users included) and is read-only until promoted.
        const [oldDb, newDb] = await Promise.all([
          startMariadb(
            lab,
            "old",
            join(dir, "old/db"),
            replication
              ? {
                  serverArgs: ["--log-bin=mysql-bin", "--server-id=1", "--binlog-format=ROW", "--bind-address=0.0.0.0"],
                }
              : {},
          ),
          startMariadb(
            lab,
            "new",
            join(dir, "new/db"),
            replication
              ? { serverArgs: ["--skip-log-bin", "--server-id=2", "--bind-address=127.0.0.1"], app: false }
              : {},
          ),
        ]);
        // The sync's own user over TCP (the app's socket path leads to the relay once it takes over), its
        // password only in an option file on each host.
        for (const [db, name] of [
          [oldDb, "old"],
          [newDb, "new"],
        ] as const) {
          if (name === "old" || !replication)
            await db.sql(
              "CREATE USER 'sync'@'127.0.0.1' IDENTIFIED BY 'sync-secret-pw'; GRANT ALL ON *.* TO 'sync'@'127.0.0.1'",
            );
          await writeFile(
            join(dir, `${name}.cnf`),
            "[client]\nuser=sync\npassword=sync-secret-pw\nhost=127.0.0.1\nport=3306\n",
            { mode: 0o600 },
          );
        }
        if (replication) {
          await oldDb.sql(
            "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'",
          );
          await newDb.sql(
            `CHANGE MASTER TO MASTER_HOST='${OLD}', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos; START SLAVE; SET GLOBAL read_only = ON`,
          );
          for (let i = 0; i < 400; i++) {
            if (
              (await newDb.sql("SELECT COUNT(*) FROM mysql.user WHERE user = 'repl'").catch(() => "0")).trim() === "1"
            )
              break;
            await sleep(50);
          }
        }
        const uploads = { old: join(dir, "old/www/uploads"), new: join(dir, "new/www/uploads") };
        for (const u of Object.values(uploads)) await mkdir(u, { recursive: true });
        // What the web root already holds before the move (the warm pass copies it ahead).
        for (let i = 0; i < 50; i++) await writeFile(join(uploads.old, `existing-${i}`), `existing ${i}\n`);
        const oldPid = join(dir, "old/app.pid");
        lab.spawn("old", [
          "sh",
          "-c",
          `echo $$ > ${oldPid}; exec ${process.execPath} ${APP} ${OLD} ${oldDb.socket} ${uploads.old}`,
        ]);
        lab.spawn("new", [process.execPath, APP, NEW, newDb.socket, uploads.new]);
        await Promise.all([listening(lab, "old", 80), listening(lab, "new", 80)]);

        // The old host's root reaches the new host's sshd with a key of its own, the host key checked.
        await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id_old")]);
        const sshd = await startSshd(lab, "new", join(dir, "sshd"), {
          address: NEW,
          authorizedKeys: await readFile(join(dir, "id_old.pub"), "utf8"),
        });
        await writeFile(join(dir, "known_hosts"), `${sshd.hostKeyLine}\n`, { mode: 0o600 });
        await writeFile(
          join(dir, "stop.sh"),
          `#!/bin/sh\n# graceful: requests in flight finish\npid=$(cat ${oldPid}); kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done\n`,
          { mode: 0o755 },
        );
        await writeFile(join(dir, "example.test.zone"), "");
        const plan = (swapAt: Date) => `name: sync-scenario
old: { ipv4: ${OLD} }
new: { ipv4: ${NEW}, ssh: root@${NEW} }
dns: { provider: zonefile, zones: [example.test], files: { example.test: example.test.zone } }
schedule:
  swapAt: ${swapAt.toISOString()}
  drain: { quiet: 1h, deadline: 2h }
handover: { mode: redirect, stopServices: [app], stopCommand: [sh, ${dir}/stop.sh, "{service}"] }
relay: { ports: [80] }
sync:
  files: [{ path: ${uploads.old}, to: ${uploads.new} }]
  mysql: { mode: ${mode},${replication ? "" : " databases: [app],"} optionsFile: ${dir}/old.cnf, newOptionsFile: ${dir}/new.cnf }
  ssh: { identity: ${dir}/id_old, knownHosts: ${dir}/known_hosts }
  maxHold: 30s
`;
        await writeFile(join(dir, "cutover.yaml"), plan(new Date(Date.now() + 3_600_000)));

        // Ahead of the move, by hand: what the sync needs, and a warm pass of the files.
        const check = await cutoverIn(lab, "old", ["sync", "check", "--plan", "cutover.yaml"], dir);
        expect(check.code, `${check.stdout}${check.stderr}`).toBe(0);
        expect(check.stdout).toMatch(/ok {3}sync tools on the new host \(rsync, mysql\)/);
        if (replication) expect(check.stdout).toMatch(/ok {3}replica on the new host: running, \d+ s behind/);
        const warm = await cutoverIn(lab, "old", ["sync", "warm", "--plan", "cutover.yaml", "--json"], dir);
        expect(warm.code, warm.stderr).toBe(0);
        const warmed = JSON.parse(warm.stdout) as { files: number };
        expect(warmed.files).toBe(50);

        // The relay as on the old host, from the plan; the handover (at the swap) 6 s from now.
        const swapAt = new Date(Date.now() + 6000);
        await writeFile(join(dir, "cutover.yaml"), plan(swapAt));
        const admin = join(dir, "relay.sock");
        relay = spawn(
          "ip",
          [
            "netns",
            "exec",
            lab.hosts.old!.ns,
            process.execPath,
            CLI,
            "relay",
            "start",
            "--plan",
            "cutover.yaml",
            "--admin",
            admin,
          ],
          { cwd: dir, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
        );
        let relayOut = "";
        relay.stdout!.on("data", (d: Buffer) => (relayOut += d.toString()));
        relay.stderr!.on("data", (d: Buffer) => (relayOut += d.toString()));

        // The clients: four writers, a fresh connection per write, from before the handover to well after it.
        const writers = new Promise<Writers>((resolve, reject) => {
          const child = lab.spawn("client", [process.execPath, WRITERS, OLD, "4", "15000"], {
            stdio: ["ignore", "pipe", "pipe"],
          });
          let out = "";
          let err = "";
          child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
          child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
          child.on("close", () => {
            try {
              resolve(JSON.parse(out) as Writers);
            } catch {
              reject(new Error(`writers: ${err}${out}`));
            }
          });
        });

        const w = await writers;
        const status = await cutoverIn(lab, "old", ["relay", "status", "--admin", admin, "--json"], dir);
        const h = (JSON.parse(status.stdout) as { handover: Record<string, any> }).handover;
        const rows = new Set((await newDb.sql("SELECT id FROM app.writes")).split("\n").filter(Boolean));
        const files = new Set(await readdir(uploads.new));
        const missingRows = w.acked.filter((a) => !rows.has(a.id)).map((a) => a.id);
        const missingFiles = w.acked.filter((a) => !files.has(a.id)).map((a) => a.id);
        const oldRows = (await oldDb.sql("SELECT COUNT(*) FROM app.writes WHERE client = 'web'")).trim();
        const summary = `sync scenario: ${w.acked.length} writes acknowledged (${oldRows} on the old host before the move), ${w.acked.length - missingRows.length} rows and ${w.acked.length - missingFiles.length} files found on the new host, ${w.failures.length} failed; hold window ${h.hold?.windowMs} ms, ${h.hold?.held} held, longest wait ${h.hold?.longestWaitMs} ms, slowest write ${w.slowest.ms} ms; sync ${h.sync?.durationMs} ms: ${h.sync?.files} files, ${h.sync?.bytes} bytes, ${h.sync?.rows} rows`;
        console.log(summary);
        const context = `${summary}\n${relayOut}\nfailures: ${JSON.stringify(w.failures.slice(0, 10))}\nstatus: ${JSON.stringify(h)}`;
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
        expect(Number(oldRows), context).toBeGreaterThan(0);
        expect(w.failures, context).toEqual([]);
        expect(missingRows, context).toEqual([]);
        expect(missingFiles, context).toEqual([]);
        // Writes acknowledged after the swap went to the new host; the option files' password never showed.
        expect(
          w.acked.some((a) => a.at > swapAt.getTime() + 1000),
          context,
        ).toBe(true);
        if (replication) {
          // Promoted: replication cleared, writable.
          expect((await newDb.sql("SELECT @@GLOBAL.read_only")).trim()).toBe("0");
          expect((await newDb.sql("SHOW SLAVE STATUS")).trim()).toBe("");
          expect(h.sync.steps[1].detail, context).toMatch(/replica reached GTID .*; promoted/);
        }
        expect(`${relayOut}${status.stdout}${warm.stdout}${check.stdout}`).not.toContain("sync-secret-pw");
      } finally {
        if (relay?.pid !== undefined && relay.exitCode === null) {
          relay.kill("SIGTERM");
          await new Promise((r) => setTimeout(r, 500));
          if (relay.exitCode === null) relay.kill("SIGKILL");
        }
        await lab.destroy();
        if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
