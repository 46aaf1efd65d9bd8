import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLI, ROOT } from "../_spawn.js";
import type { LoadConfig, LoadResult } from "./_load.js";
import { createLab, type Lab } from "./_netns.js";
import { startKnot, startMariadb, startNginx, startSshd, startUnbound, writeStopScript } from "./_services.js";

const run = promisify(execFile);

/** How the old host hands over: cutover's relay, or the socat lines migration scripts use. */
export type Procedure = "cutover" | "socat";

export const ADDR = {
  old: "198.51.100.10",
  new: "203.0.113.20",
  resolver: "192.0.2.53",
  authority: "192.0.2.54",
  laptop: "192.0.2.10",
  client: "192.0.2.50",
  stale: "192.0.2.60",
} as const;

const ZONE = "example.test";
const NAME = `www.${ZONE}`;
const BIG = 12 * 1024 * 1024;

export interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ScenarioResult {
  procedure: Procedure;
  plan: string;
  swapAt: number;
  /** When the old host's ports and socket led to the relay (or socat was started). */
  handoverAt: number;
  /** When the clients stopped. */
  loadEnd: number;
  deploy?: Spawned;
  run: Spawned;
  web: LoadResult;
  stale: LoadResult;
  mysql: LoadResult;
  /** Row ids of the `writes` table on each MariaDB at the end. */
  rows: { old: string[]; new: string[] };
  /** The relay's list of clients still arriving after the swap (from the run's journal). */
  staleClients: string[];
  /** Propagation rounds as the journal recorded them: how much of the resolvers' answers were new. */
  watch: Array<{ at: string; progress: number; summary: string }>;
  /** After the drain: our nftables table on the old host (null when none) and relay processes left. */
  afterDrain: { nftTable: string | null; relayProcesses: string[] };
  /** After the restore: the record as Knot and Unbound answer it. */
  afterRestore: { authoritative: string; resolver: string };
  log: string[];
}

function cutoverIn(lab: Lab, host: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<Spawned>((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", lab.hosts[host]!.ns, process.execPath, CLI, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a load client in `host`'s namespace; `onStarted` is called once it has loaded and begun. */
export function startLoad(
  lab: Lab,
  host: string,
  mode: string,
  config: LoadConfig,
  onStarted?: () => void,
): Promise<LoadResult> {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      lab.hosts[host]!.ns,
      process.execPath,
      "--import",
      "tsx",
      join(ROOT, "test/scenario/_load.ts"),
      mode,
      JSON.stringify(config),
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
    if (onStarted !== undefined && err.includes("load: started")) {
      onStarted();
      onStarted = undefined;
    }
  });
  return new Promise((resolve, reject) =>
    child.on("close", () => {
      try {
        resolve(JSON.parse(out) as LoadResult);
      } catch {
        reject(new Error(`${mode} load on ${host} gave no result: ${err || out}`));
      }
    }),
  );
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));

/**
 * The whole move in network namespaces under continuous load: builds the hosts and services, starts the
 * clients, moves www.example.test from the old host to the new one with `procedure`, collects the
 * evidence, and removes everything it created (namespaces, processes, the relay's directory), also on failure.
 */
export async function runScenario(options: {
  procedure: Procedure;
  say?: (line: string) => void;
}): Promise<ScenarioResult> {
  const log: string[] = [];
  const say = (line: string) => {
    log.push(`${new Date().toISOString()} ${line}`);
    options.say?.(line);
  };
  const dir = await mkdtemp(join(tmpdir(), "cutover-zd-"));
  const planName = `zd-${randomBytes(3).toString("hex")}`;
  const relayDir = `/var/lib/cutover/${planName}`;
  let lab: Lab | undefined;
  // Ctrl-C (the bench) or a kill: remove the namespaces and what runs in them before leaving.
  const onSignal = () => {
    void (lab?.destroy() ?? Promise.resolve())
      .then(() => rm(relayDir, { recursive: true, force: true }))
      .then(() => rm(dir, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    lab = await createLab({
      old: ADDR.old,
      new: ADDR.new,
      dns: [ADDR.resolver, ADDR.authority],
      laptop: ADDR.laptop,
      client: ADDR.client,
      stale: ADDR.stale,
    });
    say(
      `lab ${lab.id}: namespaces ${Object.values(lab.hosts)
        .map((h) => h.ns)
        .join(" ")}`,
    );
    const big = randomBytes(BIG);
    const bigSha256 = createHash("sha256").update(big).digest("hex");

    // The services: nginx and MariaDB on both hosts (the same data), the DNS host, sshd on both hosts.
    const oldNginx = await startNginx(lab, "old", join(dir, "old/nginx"), {
      address: ADDR.old,
      page: "served by the old host\n",
      big,
      rate: "3m",
    });
    await startNginx(lab, "new", join(dir, "new/nginx"), {
      address: ADDR.new,
      page: "served by the new host\n",
      big,
      rate: "3m",
    });
    const oldDb = await startMariadb(lab, "old", join(dir, "old/mariadb"));
    const newDb = await startMariadb(lab, "new", join(dir, "new/mariadb"));
    // The app's socket path, as PHP's default /var/lib/mysql/mysql.sock, a symlink to the server's socket.
    const appSocket = join(dir, "old/lib/mysql.sock");
    await mkdir(join(dir, "old/lib"), { recursive: true });
    await symlink(oldDb.socket, appSocket);
    const knot = await startKnot(lab, "dns", join(dir, "dns/knot"), {
      address: ADDR.authority,
      zone: ZONE,
      zoneText: `$ORIGIN ${ZONE}.
$TTL 30
@    IN SOA ns1 hostmaster 2026010100 60 60 600 2
@    IN NS  ns1
ns1  IN A   ${ADDR.authority}
@    IN A   ${ADDR.old}
www  IN A   ${ADDR.old}
`,
    });
    await startUnbound(lab, "dns", join(dir, "dns/unbound"), {
      address: ADDR.resolver,
      zone: ZONE,
      authority: ADDR.authority,
      clients: [ADDR.laptop, ADDR.client, ADDR.stale, ADDR.resolver],
      // A TTL floor of 10 s, as many resolvers and clients keep (Chrome 60 s, Java 30 s): the lowered 2 s TTL
      // is cached for 10 s, so resolving clients still reach the old address for a while after the swap,
      // and the watch sees Unbound flip (with 2 s it could flip before the watch's first round).
      minTtl: 10,
    });
    const keys = join(dir, "laptop/keys");
    await mkdir(keys, { recursive: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "admin", "-f", join(keys, "admin")]);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "tunnel", "-f", join(keys, "tunnel")]);
    const [oldSsh, newSsh] = await Promise.all([
      startSshd(lab, "old", join(dir, "old/sshd"), {
        address: ADDR.old,
        authorizedKeys: await readFile(join(keys, "admin.pub"), "utf8"),
      }),
      startSshd(lab, "new", join(dir, "new/sshd"), {
        address: ADDR.new,
        authorizedKeys: await readFile(join(keys, "tunnel.pub"), "utf8"),
      }),
    ]);
    const knownHosts = join(keys, "known_hosts");
    await writeFile(knownHosts, `${oldSsh.hostKeyLine}\n${newSsh.hostKeyLine}\n`, { mode: 0o600 });
    const stopScript = await writeStopScript(
      join(dir, "old"),
      { conf: oldNginx.conf, pidFile: oldNginx.pidFile, prefix: join(dir, "old/nginx") },
      { pidFile: oldDb.pidFile, socket: oldDb.socket },
    );
    say("services up: nginx, MariaDB and sshd on both hosts; Knot and Unbound on the DNS host");

    // The plan: TTL 30 s lowered to 2 s, the swap about 75 s from now (the drop is due 33 s before it: 42 s for plan and deploy, which take 10–15 s on a busy machine), drain when quiet 3 s, restore at T+30 s.
    const swapAt = Math.ceil((Date.now() + 75_000) / 1000) * 1000;
    const laptop = join(dir, "laptop");
    const planPath = join(laptop, "cutover.yaml");
    const relayPart =
      options.procedure === "cutover"
        ? `handover:
  mode: redirect
  stopServices: [nginx, mariadb]
  stopCommand: [${stopScript}, "{service}"]
relay:
  ports: [80]
  sockets:
    - listen: ${appSocket}
      mode: "0777"
      to: { via: ssh, host: 127.0.0.1, port: 3306 }
`
        : "";
    await writeFile(
      planPath,
      `name: ${planName}
old: { ipv4: ${ADDR.old}, ssh: root@${ADDR.old} }
new: { ipv4: ${ADDR.new}, ssh: root@${ADDR.new} }
dns:
  provider: zonefile
  zones: [${ZONE}]
  files: { ${ZONE}: ${knot.zoneFile} }
  reload: knotc -c ${knot.conf} -s ${knot.socket} zone-reload {zone}
  lowTtl: 2
schedule:
  swapAt: ${new Date(swapAt).toISOString()}
  margin: 3s
  preflightBefore: 10s
  restoreTtlAfter: 30s
  drain: { quiet: 3s, deadline: 2m }
${relayPart}propagation:
  resolvers: [${ADDR.resolver}]
  authoritative: { parent: false, bootstrap: ${ADDR.resolver}, nsAddresses: { ns1.${ZONE}: [${ADDR.authority}] } }
  timeout: 30s
`,
    );
    const env = {
      CUTOVER_SSH_IDENTITY: join(keys, "admin"),
      CUTOVER_SSH_KNOWN_HOSTS: knownHosts,
      HOME: laptop,
    };
    const plan = await cutoverIn(lab, "laptop", ["plan", planPath], laptop, env, 60_000);
    say(`cutover plan: exit ${plan.code}\n${plan.stdout}${plan.stderr}`);
    if (plan.code !== 0) throw new Error(`cutover plan failed: ${plan.stderr || plan.stdout}`);

    // The clients, from now until 14 s after the swap.
    const deadline = swapAt + 14_000;
    const loads = Promise.all([
      startLoad(lab, "client", "web", {
        name: NAME,
        resolver: ADDR.resolver,
        deadline,
        fresh: 4,
        keepAlive: 2,
        downloads: 3,
        bigSha256,
        bigSize: BIG,
        pauseMs: 20,
      }),
      startLoad(lab, "stale", "stale", { name: NAME, address: ADDR.old, deadline, fresh: 2, pauseMs: 50 }),
      startLoad(lab, "old", "mysql", {
        name: NAME,
        socket: appSocket,
        deadline,
        sessions: 2,
        client: "app",
        pauseMs: 40,
      }),
    ]);

    let deploy: Spawned | undefined;
    let handoverAt = swapAt;
    let socatDone: Promise<void> = Promise.resolve();
    if (options.procedure === "cutover") {
      deploy = await cutoverIn(
        lab,
        "laptop",
        [
          "relay",
          "deploy",
          "--plan",
          planPath,
          "--identity",
          join(keys, "admin"),
          "--known-hosts",
          knownHosts,
          "--new-ssh-key",
          join(keys, "tunnel"),
        ],
        laptop,
        env,
        90_000,
      );
      say(`cutover relay deploy: exit ${deploy.code}\n${deploy.stdout}${deploy.stderr}`);
      if (deploy.code !== 0) throw new Error(`cutover relay deploy failed: ${deploy.stderr || deploy.stdout}`);
    } else {
      // What migration scripts do at the swap time: stop the services, socat in their place.
      const l = lab;
      socatDone = (async () => {
        await sleepUntil(swapAt);
        handoverAt = Date.now();
        await l.exec("old", [
          "sh",
          "-c",
          `/usr/sbin/nginx -c ${oldNginx.conf} -p ${join(dir, "old/nginx")} -s stop; ` +
            `socat TCP-LISTEN:80,fork TCP:${ADDR.new}:80 >/dev/null 2>>${dir}/old/socat.log & ` +
            `kill -TERM $(cat ${oldDb.pidFile}); rm -f ${appSocket}; ` +
            `socat UNIX-LISTEN:${appSocket},fork,mode=777 TCP:${ADDR.new}:3306 >/dev/null 2>>${dir}/old/socat.log &`,
        ]);
        say(
          "socat procedure: nginx -s stop; socat TCP-LISTEN:80,fork TCP:NEW:80 & (and the same for the MySQL socket)",
        );
      })();
    }

    const runOut = await cutoverIn(lab, "laptop", ["run", planPath, "--json"], laptop, env, 240_000);
    say(`cutover run: exit ${runOut.code}; stderr: ${runOut.stderr.trim()}`);
    await socatDone;
    const [web, stale, mysql] = await loads;
    say(
      `load: web ${JSON.stringify(web.ok)} ${web.failures.length} failed; stale ${JSON.stringify(stale.ok)} ${stale.failures.length} failed; mysql ${JSON.stringify(mysql.ok)} ${mysql.failures.length} failed`,
    );

    // Evidence, read before anything is torn down.
    const stateDir = join(laptop, ".cutover", planName);
    const events = (await readFile(join(stateDir, "events.jsonl"), "utf8").catch(() => ""))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const state = JSON.parse(await readFile(join(stateDir, "state.json"), "utf8").catch(() => "{}")) as {
      steps?: Record<string, { result?: { staleClients?: Array<{ address: string }> } }>;
    };
    const staleClients = [
      ...new Set(
        [state.steps?.drain?.result?.staleClients ?? [], state.steps?.handover?.result?.staleClients ?? []]
          .flat()
          .map((c) => c.address),
      ),
    ];
    const watch = events
      .filter(
        (e) => e.step === "watch" && typeof (e.result as { progress?: number } | undefined)?.progress === "number",
      )
      .map((e) => {
        const r = e.result as { progress: number; summary: string };
        return { at: String(e.at ?? e.time ?? ""), progress: r.progress, summary: r.summary };
      });
    if (options.procedure === "socat")
      say(
        `socat's errors:\n${(await readFile(join(dir, "old/socat.log"), "utf8").catch(() => "")).split("\n").slice(0, 5).join("\n")}`,
      );
    if (options.procedure === "cutover") {
      const relayLog = await readFile(join(relayDir, "relay.log"), "utf8").catch(() => "");
      const m = /^(\S+) .*handover: \S+ now leads to the relay/m.exec(relayLog);
      if (m) handoverAt = Date.parse(m[1]!);
      say(`relay log:\n${relayLog}`);
    }
    // Any table of cutover's (each plan's relay has its own, cutover_NAME), not only the default name.
    const nftTable = await lab.exec("old", ["nft", "list", "tables"]).then(
      (r) => (/^table inet cutover\w*$/m.test(r.stdout) ? r.stdout : null),
      () => null,
    );
    // Processes in the old host's namespace only (the machine's process list is shared).
    const oldPids = (await run("ip", ["netns", "pids", lab.hosts.old!.ns])).stdout.split(/\s+/).filter(Boolean);
    const relayProcesses: string[] = [];
    for (const pid of oldPids) {
      const args = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replaceAll("\0", " ").trim();
      if (args.includes("cutover-relay") || args.includes("socat")) relayProcesses.push(`${pid} ${args}`);
    }
    const ids = async (sql: (s: string) => Promise<string>) =>
      (await sql("SELECT id FROM app.writes")).split("\n").filter(Boolean);
    // The old server was stopped at the handover: started again on its data to read what it holds.
    const oldRows = await ids(oldDb.sql).catch(async () => {
      await oldDb.restart();
      return ids(oldDb.sql);
    });
    const rows = { old: oldRows, new: await ids(newDb.sql) };
    const digAt = async (server: string) =>
      (await lab!.exec("dns", ["dig", "+noall", "+answer", "+norecurse", `@${server}`, NAME, "A"])).stdout.trim();
    const afterRestore = {
      authoritative: await digAt(ADDR.authority),
      resolver: (await lab.exec("dns", ["dig", "+noall", "+answer", `@${ADDR.resolver}`, NAME, "A"])).stdout.trim(),
    };
    return {
      procedure: options.procedure,
      plan: planPath,
      swapAt,
      handoverAt,
      loadEnd: deadline,
      ...(deploy ? { deploy } : {}),
      run: runOut,
      web,
      stale,
      mysql,
      rows,
      staleClients,
      watch,
      afterDrain: { nftTable, relayProcesses },
      afterRestore,
      log,
    };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await lab?.destroy();
    await rm(relayDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  }
}
