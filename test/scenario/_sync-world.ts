import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLI, ROOT } from "../_spawn.js";
import { createLab, type Lab } from "./_netns.js";
import { startMariadb, startSshd } from "./_services.js";

const run = promisify(execFile);
const OLD = "198.51.100.10";
const NEW = "203.0.113.20";
const CLIENT = "192.0.2.50";
const APP = join(ROOT, "test/scenario/fixtures/sync-app.mjs");
const WRITERS = join(ROOT, "test/scenario/fixtures/sync-writers.mjs");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How the old host hands over its data: cutover (the relay holds new connections while the final sync runs),
 * or the procedures it replaces, as migration scripts write them: stop the app, copy, forward with socat
 * (requests fail while it copies), or copy while the app runs, stop it, forward (writes after the copy stay
 * behind on the old host).
 */
export type SyncProcedure = "cutover" | "stop-copy-forward" | "copy-stop-forward";

export interface Writers {
  acked: Array<{ id: string; kind: "web" | "mail"; at: number; ms: number }>;
  failures: Array<{ id: string; at: number; why: string }>;
  slowest: { ms: number; id: string };
}

export interface SyncMoveResult {
  procedure: SyncProcedure;
  mode: "dump" | "replication";
  swapAt: number;
  writers: Writers;
  /** Acknowledged writes whose row, or file, is not on the new host. */
  lostRows: string[];
  lostFiles: string[];
  /** Acknowledged mail whose message is not in the new host's maildir. */
  lostMail: string[];
  /** Rows the app wrote on the old host (before the move). */
  oldRows: number;
  /** cutover only: `sync check` and `sync warm` by hand, the relay's output and its handover status. */
  check?: { code: number; stdout: string; stderr: string };
  warm?: { code: number; stdout: string; stderr: string };
  relayOut: string;
  handover?: Record<string, any>;
  /** replication: the new server afterwards. */
  newReadOnly?: string;
  newSlaveStatus?: string;
  summary: string;
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
 * Zero data loss, in network namespaces with real MariaDB, OpenSSH and rsync: four clients write through the
 * move (each write a row in MariaDB through the app's `localhost` socket user and a file under the web root,
 * acknowledged with its id) while the old host hands over by `procedure`. Returns what was acknowledged and
 * what of it is on the new host afterwards; removes everything it created, also on failure.
 */
export async function runSyncMove(options: {
  mode: "dump" | "replication";
  procedure: SyncProcedure;
}): Promise<SyncMoveResult> {
  const { mode, procedure } = options;
  const dir = await mkdtemp(join(tmpdir(), "cutover-sync-"));
  await chmod(dir, 0o755);
  const lab = await createLab({ old: OLD, new: NEW, client: CLIENT });
  let relay: ReturnType<typeof spawn> | undefined;
  let socat: ReturnType<typeof spawn> | undefined;
  let socat25: ReturnType<typeof spawn> | undefined;
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
        replication ? { serverArgs: ["--skip-log-bin", "--server-id=2", "--bind-address=127.0.0.1"], app: false } : {},
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
      await oldDb.sql("CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'");
      await newDb.sql(
        `CHANGE MASTER TO MASTER_HOST='${OLD}', MASTER_PORT=3306, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos; START SLAVE; SET GLOBAL read_only = ON`,
      );
      for (let i = 0; i < 400; i++) {
        if ((await newDb.sql("SELECT COUNT(*) FROM mysql.user WHERE user = 'repl'").catch(() => "0")).trim() === "1")
          break;
        await sleep(50);
      }
    }
    const uploads = { old: join(dir, "old/www/uploads"), new: join(dir, "new/www/uploads") };
    const maildirs = { old: join(dir, "old/vmail"), new: join(dir, "new/vmail") };
    for (const u of Object.values(uploads)) await mkdir(u, { recursive: true });
    for (const m of Object.values(maildirs))
      for (const sub of ["tmp", "new", "cur"]) await mkdir(join(m, sub), { recursive: true });
    // What the web root already holds before the move (the warm pass copies it ahead).
    for (let i = 0; i < 50; i++) await writeFile(join(uploads.old, `existing-${i}`), `existing ${i}\n`);
    const oldPid = join(dir, "old/app.pid");
    lab.spawn("old", [
      "sh",
      "-c",
      `echo $$ > ${oldPid}; exec ${process.execPath} ${APP} ${OLD} ${oldDb.socket} ${uploads.old} ${maildirs.old}`,
    ]);
    lab.spawn("new", [process.execPath, APP, NEW, newDb.socket, uploads.new, maildirs.new]);
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
relay: { ports: [80, 25], proxyProtocol: {} }
sync:
  files: [{ path: ${uploads.old}, to: ${uploads.new} }, { path: ${maildirs.old}, to: ${maildirs.new}, delete: true }]
  mysql: { mode: ${mode},${replication ? "" : " databases: [app],"} optionsFile: ${dir}/old.cnf, newOptionsFile: ${dir}/new.cnf }
  ssh: { identity: ${dir}/id_old, knownHosts: ${dir}/known_hosts }
  maxHold: 30s
`;
    await writeFile(join(dir, "cutover.yaml"), plan(new Date(Date.now() + 3_600_000)));

    const result: Partial<SyncMoveResult> = { procedure, mode, relayOut: "" };
    if (procedure === "cutover") {
      // Ahead of the move, by hand: what the sync needs, and a warm pass of the files.
      result.check = await cutoverIn(lab, "old", ["sync", "check", "--plan", "cutover.yaml"], dir);
      result.warm = await cutoverIn(lab, "old", ["sync", "warm", "--plan", "cutover.yaml", "--json"], dir);
    }
    // The handover (at the swap) 6 s from now: cutover's relay from the plan, armed as on the old host.
    const swapAt = new Date(Date.now() + 6000);
    result.swapAt = swapAt.getTime();
    await writeFile(join(dir, "cutover.yaml"), plan(swapAt));
    const admin = join(dir, "relay.sock");
    if (procedure === "cutover") {
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
      relay.stdout!.on("data", (d: Buffer) => (result.relayOut += d.toString()));
      relay.stderr!.on("data", (d: Buffer) => (result.relayOut += d.toString()));
    }

    // The clients: four writers, a fresh connection per write, from before the handover to well after it.
    const writers = new Promise<Writers>((resolve, reject) => {
      const child = lab.spawn("client", [process.execPath, WRITERS, OLD, "4", "15000", "2"], {
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

    if (procedure !== "cutover") {
      // The replaced procedure, by the old host's clock at the swap.
      await sleep(swapAt.getTime() - Date.now());
      const ssh = `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -i ${dir}/id_old -o UserKnownHostsFile=${dir}/known_hosts`;
      const copy = `rsync -a -e "${ssh}" ${uploads.old}/ root@${NEW}:${uploads.new}/ && rsync -a -e "${ssh}" ${maildirs.old}/ root@${NEW}:${maildirs.new}/ && mysqldump --defaults-extra-file=${dir}/old.cnf --protocol=TCP --single-transaction --databases app | ${ssh} root@${NEW} mysql --defaults-extra-file=${dir}/new.cnf`;
      const stop = `sh ${dir}/stop.sh app`;
      const steps = procedure === "stop-copy-forward" ? [stop, copy] : [copy, stop];
      for (const step of steps)
        result.relayOut += (await lab.exec("old", ["sh", "-c", step], { timeoutMs: 60_000 })).stderr;
      socat = lab.spawn("old", ["socat", `TCP-LISTEN:80,bind=${OLD},fork,reuseaddr,backlog=4096`, `TCP:${NEW}:80`]);
      socat25 = lab.spawn("old", ["socat", `TCP-LISTEN:25,bind=${OLD},fork,reuseaddr,backlog=4096`, `TCP:${NEW}:25`]);
    }

    const w = await writers;
    result.writers = w;
    if (procedure === "cutover") {
      const status = await cutoverIn(lab, "old", ["relay", "status", "--admin", admin, "--json"], dir);
      result.handover = (JSON.parse(status.stdout) as { handover: Record<string, any> }).handover;
      result.relayOut += status.stdout;
    }
    const rows = new Set((await newDb.sql("SELECT id FROM app.writes")).split("\n").filter(Boolean));
    const files = new Set(await readdir(uploads.new));
    const mails = new Set(await readdir(join(maildirs.new, "new")));
    const web = w.acked.filter((a) => a.kind === "web");
    const mail = w.acked.filter((a) => a.kind === "mail");
    result.lostRows = web.filter((a) => !rows.has(a.id)).map((a) => a.id);
    result.lostFiles = web.filter((a) => !files.has(a.id)).map((a) => a.id);
    result.lostMail = mail.filter((a) => !mails.has(a.id)).map((a) => a.id);
    result.oldRows = Number((await oldDb.sql("SELECT COUNT(*) FROM app.writes WHERE client = 'web'")).trim());
    if (replication) {
      result.newReadOnly = (await newDb.sql("SELECT @@GLOBAL.read_only")).trim();
      result.newSlaveStatus = (await newDb.sql("SHOW SLAVE STATUS")).trim();
    }
    const h = result.handover;
    result.summary = `${procedure} (mysql ${mode}): ${web.length} web writes and ${mail.length} mails acknowledged (${result.oldRows} rows on the old host), ${web.length - result.lostRows.length} rows, ${web.length - result.lostFiles.length} files and ${mail.length - result.lostMail.length} mails found on the new host, ${w.failures.length} failed; slowest write ${w.slowest.ms} ms${h ? `; hold window ${h.hold?.windowMs} ms, ${h.hold?.held} held, longest wait ${h.hold?.longestWaitMs} ms; sync ${h.sync?.durationMs} ms: ${h.sync?.files} files, ${h.sync?.bytes} bytes, ${h.sync?.rows} rows` : ""}`;
    return result as SyncMoveResult;
  } finally {
    for (const p of [relay, socat, socat25])
      if (p?.pid !== undefined && p.exitCode === null) {
        p.kill("SIGTERM");
        await sleep(500);
        if (p.exitCode === null) p.kill("SIGKILL");
      }
    await lab.destroy();
    if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
  }
}
