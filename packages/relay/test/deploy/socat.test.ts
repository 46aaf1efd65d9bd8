import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelayConfig } from "../../src/config.js";
import { planSocatScript } from "../../src/deploy/socat.js";
import { dial, readAll, startServer, waitFor } from "../_helpers.js";
import { freePort, waitForPort } from "../_servers.js";
import { startSshd, type TestSshd } from "@cutover/testkit";

let sshd: TestSshd;
let upstream: Awaited<ReturnType<typeof startServer>>;
const children: ChildProcess[] = [];

const REQUEST = 100 * 1024;

beforeAll(async () => {
  sshd = await startSshd();
  // The "new host": reads until the client's FIN, answers 1.5 s later (a slow reply after a half-close).
  upstream = await startServer((s) => {
    let n = 0;
    s.on("data", (d: Buffer) => (n += d.length));
    s.on("end", () => setTimeout(() => s.end(`got ${n}\n`), 1500));
  });
}, 30_000);

afterAll(async () => {
  for (const c of children)
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once("exit", r));
      process.kill(c.pid, "SIGTERM");
      await gone;
    }
  await upstream?.close();
  await sshd?.stop();
}, 30_000);

/** 100 kB then FIN, and whatever comes back before the far side closes. */
async function halfClose(target: { port: number } | { path: string }): Promise<string> {
  const s = await dial(target);
  s.end(Buffer.alloc(REQUEST, 7));
  return (await readAll(s)).data.toString();
}

function runScript(path: string): { child: ChildProcess; output: () => string } {
  const child = spawn("sh", [path], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

describe("the socat fallback script, run for real", () => {
  it("keeps half-closed connections for the late reply, makes the unix socket with owner/group/mode, tunnels over SSH with the key checked, cleans up", async () => {
    const port = await freePort();
    const dir = join(sshd.dir, "socat");
    await mkdir(dir, { mode: 0o700 });
    const sock = join(dir, "mysql.sock");
    const viaSsh = join(dir, "via-ssh.sock");
    const config: RelayConfig = {
      listeners: [
        { kind: "tcp", host: "127.0.0.1", port, upstream: { kind: "tcp", host: "127.0.0.1", port: upstream.port } },
        {
          kind: "unix",
          path: sock,
          owner: "nobody",
          group: "nogroup",
          mode: "0660",
          upstream: { kind: "tcp", host: "127.0.0.1", port: upstream.port },
        },
        { kind: "unix", path: viaSsh, upstream: { kind: "ssh", via: "new", host: "127.0.0.1", port: upstream.port } },
      ],
      ssh: {
        new: {
          host: "127.0.0.1",
          port: sshd.port,
          username: sshd.user,
          privateKeyPath: sshd.userKey,
          hostKey: sshd.hostFingerprint,
        },
      },
    };
    const knownHosts = (await readFile(sshd.knownHosts, "utf8")).trim().split("\n");
    const { script, files, warnings } = planSocatScript(config, {
      name: "t-socat",
      dir,
      knownHosts: { new: knownHosts },
    });
    expect(warnings).toEqual([]);
    expect(script).toContain("StrictHostKeyChecking=yes");
    expect(script).toMatch(/reuseaddr,fork,backlog=4096/);
    for (const f of files) await writeFile(join(dir, f.name), f.data, { mode: f.mode });
    await writeFile(join(dir, "relay.sh"), script, { mode: 0o700 });

    const run = runScript(join(dir, "relay.sh"));
    await waitForPort(port);
    // socat makes each unix socket when it starts: wait for both before connecting.
    for (const path of [sock, viaSsh])
      await waitFor(async () => (await stat(path).catch(() => undefined))?.isSocket() === true, 10_000);

    const [tcp, unix, ssh] = await Promise.all([
      halfClose({ port }),
      halfClose({ path: sock }),
      halfClose({ path: viaSsh }),
    ]);
    expect(tcp).toBe(`got ${REQUEST}\n`);
    expect(unix).toBe(`got ${REQUEST}\n`);
    expect(ssh).toBe(`got ${REQUEST}\n`);

    const st = await stat(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(65534); // nobody
    expect(st.gid).toBe(65534); // nogroup

    // SIGTERM: children stopped, sockets removed, port free.
    const exited = new Promise((r) => run.child.once("close", r));
    process.kill(run.child.pid!, "SIGTERM");
    await exited;
    expect(run.output()).toMatch(/stopped/);
    await expect(stat(sock)).rejects.toThrow();
    await expect(stat(viaSsh)).rejects.toThrow();
    const refused = await new Promise<boolean>((r) => {
      const c = connect({ port, host: "127.0.0.1" });
      c.once("connect", () => (c.destroy(), r(false)));
      c.once("error", () => r(true));
    });
    expect(refused).toBe(true);
  }, 30_000);

  it("the yardstick: socat as migration scripts write it (-t 0.5 by default) loses the late reply", async () => {
    const port = await freePort();
    const plain = spawn(
      "socat",
      [`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${upstream.port}`],
      {
        stdio: "ignore",
      },
    );
    children.push(plain);
    await waitForPort(port);
    expect(await halfClose({ port })).toBe("");
  });

  it("refuses a tunnel without the new host's key, and service names with shell metacharacters", () => {
    const config: RelayConfig = {
      listeners: [
        { kind: "unix", path: "/tmp/x.sock", upstream: { kind: "ssh", via: "new", host: "127.0.0.1", port: 3306 } },
      ],
      ssh: { new: { host: "203.0.113.20", username: "root", hostKey: `SHA256:${"A".repeat(43)}` } },
    };
    expect(() => planSocatScript(config, { name: "x", dir: "/var/lib/cutover/x" })).toThrow(/no known_hosts line/);
    expect(() =>
      planSocatScript(
        { listeners: [], handover: { mode: "rebind", services: ["nginx && reboot"] } },
        { name: "x", dir: "/var/lib/cutover/x" },
      ),
    ).toThrow(/not a plain service name/);
  });
});
