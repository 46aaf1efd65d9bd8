import { execFile, type ChildProcess } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { UNBOUND, unboundConfig } from "@cutover/testkit";
import type { Lab } from "./_netns.js";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what: string, check: () => Promise<boolean>, child?: ChildProcess, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (child && child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode})`);
    if (Date.now() > until) throw new Error(`${what} did not come up in ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

async function listening(lab: Lab, host: string, port: number): Promise<boolean> {
  const { stdout } = await lab.exec(host, ["ss", "-Htln", `sport = :${port}`]);
  return stdout.includes(`:${port}`);
}

/**
 * nginx with a master process (so QUIT is graceful), serving `page` at / and the download file at
 * /big (rate-limited so that downloads last a few seconds and are in flight at the handover).
 */
export async function startNginx(
  lab: Lab,
  host: string,
  dir: string,
  options: { address: string | string[]; page: string; big: Buffer; rate: string },
): Promise<{ conf: string; pidFile: string; child: ChildProcess }> {
  const listen = (Array.isArray(options.address) ? options.address : [options.address])
    .map((a) => `listen ${a.includes(":") ? `[${a}]` : a}:80 backlog=4096;`)
    .join(" ");
  await mkdir(join(dir, "www"), { recursive: true });
  await writeFile(join(dir, "www/index.html"), options.page);
  await writeFile(join(dir, "www/big"), options.big);
  const pidFile = join(dir, "nginx.pid");
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    `daemon off; user root; worker_processes 1; pid ${pidFile}; error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  keepalive_timeout 30s;
  keepalive_requests 100000;
  server {
    ${listen}
    root ${dir}/www;
    location = /big { limit_rate ${options.rate}; }
  }
}
`,
  );
  const child = lab.spawn(host, ["/usr/sbin/nginx", "-c", conf, "-p", dir, "-e", `${dir}/error.log`]);
  await waitUntil(`nginx on ${host}`, () => listening(lab, host, 80), child);
  return { conf, pidFile, child };
}

/** Knot, authoritative for the test zone from a zone file, reloaded with knotc through its control socket. */
export async function startKnot(
  lab: Lab,
  host: string,
  dir: string,
  options: { address: string; zone: string; zoneText: string },
): Promise<{ zoneFile: string; conf: string; socket: string; child: ChildProcess }> {
  await mkdir(dir, { recursive: true });
  const zoneFile = join(dir, `${options.zone}.zone`);
  await writeFile(zoneFile, options.zoneText);
  const conf = join(dir, "knot.conf");
  const socket = join(dir, "knot.sock");
  await writeFile(
    conf,
    `server:
    rundir: "${dir}"
    listen: ${options.address}@53
log:
  - target: stderr
    any: warning
database:
    storage: "${dir}"
control:
    listen: "${socket}"
template:
  - id: default
    storage: "${dir}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: ${options.zone}
    file: "${zoneFile}"
`,
  );
  const child = lab.spawn(host, ["/usr/sbin/knotd", "-c", conf]);
  await waitUntil(
    "knotd",
    async () => (await run("knotc", ["-c", conf, "-s", socket, "zone-status", options.zone])).stdout.includes("serial"),
    child,
  );
  return { zoneFile, conf, socket, child };
}

/** Unbound, the clients' caching resolver, with a stub zone pointing at Knot; no serve-stale, no prefetch. */
export async function startUnbound(
  lab: Lab,
  host: string,
  dir: string,
  options: { address: string; zone: string; authority: string; clients: string[]; minTtl?: number },
): Promise<{ child: ChildProcess }> {
  await mkdir(dir, { recursive: true });
  const conf = join(dir, "unbound.conf");
  await writeFile(
    conf,
    unboundConfig({
      dir,
      interfaces: [options.address],
      allow: options.clients.map((c) => `${c}/32`),
      stubs: { [options.zone]: [options.authority] },
      ...(options.minTtl === undefined ? {} : { minTtl: options.minTtl }),
    }),
  );
  const child = lab.spawn(host, [UNBOUND, "-d", "-c", conf]);
  await waitUntil(
    "unbound",
    async () =>
      (await lab.exec(host, ["dig", "+short", "+time=1", "+tries=1", `@${options.address}`, options.zone, "SOA"]))
        .stdout.length > 0,
    child,
  );
  return { child };
}

export interface Sshd {
  hostKeyLine: string;
  child: ChildProcess;
}

/** OpenSSH's sshd for root logins with the admin's key (the relay is deployed and its tunnel runs through it). */
export async function startSshd(
  lab: Lab,
  host: string,
  dir: string,
  options: { address: string; authorizedKeys: string },
): Promise<Sshd> {
  await mkdir(dir, { recursive: true });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${host}-host`, "-f", join(dir, "host_ed25519")]);
  await writeFile(join(dir, "authorized_keys"), options.authorizedKeys, { mode: 0o600 });
  const conf = join(dir, "sshd_config");
  await writeFile(
    conf,
    `ListenAddress ${options.address}
Port 22
HostKey ${join(dir, "host_ed25519")}
PidFile ${join(dir, "sshd.pid")}
AuthorizedKeysFile ${join(dir, "authorized_keys")}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
`,
  );
  await mkdir("/run/sshd", { recursive: true });
  const child = lab.spawn(host, ["/usr/sbin/sshd", "-D", "-e", "-f", conf], { stdio: ["ignore", "ignore", "ignore"] });
  await waitUntil(`sshd on ${host}`, () => listening(lab, host, 22), child);
  const pub = (await readFile(join(dir, "host_ed25519.pub"), "utf8")).trim().split(/\s+/);
  return { hostKeyLine: `${options.address} ${pub[0]} ${pub[1]}`, child };
}

export interface Mariadb {
  socket: string;
  pidFile: string;
  child: ChildProcess;
  /** Runs SQL as root through the server's own socket (inside its host). */
  sql(statement: string): Promise<string>;
  /** Starts the server again on its data (after the handover stopped it), to read what it holds. */
  restart(): Promise<void>;
}

/**
 * MariaDB with its socket at DIR/run/mysqld.sock and TCP on 127.0.0.1:3306 inside the host (where the
 * relay's SSH tunnel arrives), the app's database and a user `app` allowed only from localhost.
 */
export async function startMariadb(
  lab: Lab,
  host: string,
  dir: string,
  options: {
    /** Server options instead of `--skip-log-bin --bind-address=127.0.0.1` (a replication source, a replica). */
    serverArgs?: string[];
    /** Create the app's database, table and user (default true; a replica gets them from its source). */
    app?: boolean;
  } = {},
): Promise<Mariadb> {
  await mkdir(join(dir, "run"), { recursive: true });
  await mkdir(join(dir, "tmp"), { recursive: true });
  // Its own temp dir: bootstrap temp tables in a shared /tmp can collide with another install running at once.
  await run(
    "mariadb-install-db",
    [
      "--no-defaults",
      `--datadir=${dir}/data`,
      "--user=root",
      "--skip-test-db",
      "--auth-root-authentication-method=socket",
      `--tmpdir=${dir}/tmp`,
    ],
    { timeout: 60_000, env: { ...process.env, TMPDIR: join(dir, "tmp") } },
  );
  const socket = join(dir, "run/mysqld.sock");
  const pidFile = join(dir, "run/mariadb.pid");
  const start = () =>
    lab.spawn(host, [
      "/usr/sbin/mariadbd",
      "--no-defaults",
      `--datadir=${dir}/data`,
      `--socket=${socket}`,
      "--port=3306",
      "--user=root",
      `--pid-file=${pidFile}`,
      `--log-error=${dir}/error.log`,
      ...(options.serverArgs ?? ["--skip-log-bin", "--bind-address=127.0.0.1"]),
      "--innodb-buffer-pool-size=16M",
      "--max-connections=500",
      `--tmpdir=${dir}/tmp`,
    ]);
  const child = start();
  const sql = async (statement: string) =>
    (await lab.exec(host, ["mariadb", "--no-defaults", "-S", socket, "-u", "root", "-N", "-B", "-e", statement]))
      .stdout;
  await waitUntil(`mariadb on ${host}`, async () => (await sql("SELECT 1")).trim() === "1", child, 60_000);
  if (options.app !== false)
    await sql(
      "CREATE DATABASE app; CREATE TABLE app.writes (id VARCHAR(40) PRIMARY KEY, client VARCHAR(20), started BIGINT, note VARCHAR(20)) ENGINE=InnoDB;" +
        "INSERT INTO app.writes VALUES ('seed-1', 'setup', 0, 'same data'), ('seed-2', 'setup', 0, 'same data');" +
        "CREATE USER 'app'@'localhost' IDENTIFIED BY 'app-pw'; GRANT SELECT, INSERT ON app.* TO 'app'@'localhost';",
    );
  return {
    socket,
    pidFile,
    child,
    sql,
    async restart() {
      const again = start();
      await waitUntil(`mariadb on ${host} (again)`, async () => (await sql("SELECT 1")).trim() === "1", again, 60_000);
    },
  };
}

/**
 * The old host's stop script, as the plan's handover.stopCommand runs it (`stop-service.sh {service}`):
 * nginx stops gracefully (`nginx -s quit`: open requests and downloads finish); MariaDB waits until its
 * open sessions have ended (new ones reach the relay already), then shuts down and the script waits for it.
 */
export async function writeStopScript(
  dir: string,
  nginx: { conf: string; pidFile: string; prefix: string },
  mariadb: { pidFile: string; socket: string } | undefined,
): Promise<string> {
  const path = join(dir, "stop-service.sh");
  await writeFile(
    path,
    `#!/bin/sh
# Stops a service of the old host gracefully (the relay runs this at the handover).
case "$1" in
  nginx)
    exec /usr/sbin/nginx -c ${nginx.conf} -p ${nginx.prefix} -e ${nginx.prefix}/error.log -s quit ;;
  mariadb)
    pid=$(cat ${mariadb?.pidFile ?? "/nonexistent"}) || exit 1
    # The app's sessions still open on the old server, asked through the server's own socket, up to 30 s.
    i=0
    while [ $i -lt 300 ] && [ "$(mariadb --no-defaults -S ${mariadb?.socket ?? "/nonexistent"} -u root -N -B -e "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'app'" 2>/dev/null || echo 0)" != 0 ]; do sleep 0.1; i=$((i+1)); done
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    exit 0 ;;
  *) echo "unknown service $1" >&2; exit 2 ;;
esac
`,
  );
  await chmod(path, 0o755);
  return path;
}
