import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { freePort } from "./ports.js";

const run = promisify(execFile);

export interface KnotServer {
  port: number;
  dir: string;
  keyFile: string;
  keyName: string;
  /** Runs knotc against this server's control socket. */
  knotc(...args: string[]): Promise<string>;
  zoneFile(zone: string): string;
  stop(): Promise<void>;
}

/**
 * Starts a real knotd on 127.0.0.1 with its config, zones, TSIG key and control socket in a temp dir.
 * `acl` allows update and transfer with the key (or only what `allow` lists). Stopped by PID.
 */
export async function startKnot(
  zones: Record<string, string>,
  allow: Array<"update" | "transfer"> = ["update", "transfer"],
): Promise<KnotServer> {
  const dir = await mkdtemp(join(tmpdir(), "cutover-knot-"));
  const port = await freePort("127.0.0.1", { udp: true }); // the server answers on UDP and TCP
  const keyName = "cutover-test";
  const secret = randomBytes(32).toString("base64");
  const keyFile = join(dir, "cutover.key");
  await writeFile(keyFile, `key "${keyName}" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`, {
    mode: 0o600,
  });
  for (const [zone, text] of Object.entries(zones)) await writeFile(join(dir, `${zone}.zone`), text);
  const conf = `server:
    rundir: "${dir}"
    listen: 127.0.0.1@${port}
log:
  - target: stderr
    any: warning
database:
    storage: "${dir}"
control:
    listen: "${dir}/knot.sock"
key:
  - id: ${keyName}
    algorithm: hmac-sha256
    secret: ${secret}
acl:
  - id: cutover
    key: ${keyName}
    action: [${allow.join(", ")}]
template:
  - id: default
    storage: "${dir}"
    zonefile-sync: 0
    journal-content: none
zone:
${Object.keys(zones)
  .map((z) => `  - domain: ${z}\n    file: "${z}.zone"\n    acl: cutover`)
  .join("\n")}
`;
  await writeFile(join(dir, "knot.conf"), conf);
  const child: ChildProcess = spawn("knotd", ["-c", join(dir, "knot.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  const knotc = async (...args: string[]) =>
    (await run("knotc", ["-c", join(dir, "knot.conf"), "-s", join(dir, "knot.sock"), ...args])).stdout;
  for (let i = 0; ; i++) {
    try {
      await knotc("status");
      break;
    } catch (error) {
      if (i > 100 || child.exitCode !== null)
        throw new Error(`knotd did not start: ${stderr || (error as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    dir,
    keyFile,
    keyName,
    knotc,
    zoneFile: (zone) => join(dir, `${zone}.zone`),
    async stop() {
      if (child.exitCode === null && child.pid) {
        const exited = new Promise((r) => child.once("exit", r));
        process.kill(child.pid, "SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A zone file for `zone` with the given records (relative names, "@" = apex). */
export function zoneText(
  zone: string,
  records: ReadonlyArray<{ name: string; type: string; content: string; ttl: number }>,
): string {
  const quote = (type: string, c: string) =>
    type === "TXT"
      ? `"${c}"`
      : /\.[a-z]/i.test(c) && !/^[\d.:a-f]+$/i.test(c) && type !== "A" && type !== "AAAA"
        ? `${c}.`
        : c;
  return [
    `$ORIGIN ${zone}.`,
    `$TTL 3600`,
    `@ 3600 IN SOA ns1.${zone}. hostmaster.${zone}. 2026010101 3600 600 604800 300`,
    `@ 3600 IN NS ns1.${zone}.`,
    `ns1 3600 IN A 127.0.0.1`,
    ...records.map((r) => `${r.name} ${r.ttl} IN ${r.type} ${quote(r.type, r.content)}`),
    "",
  ].join("\n");
}
