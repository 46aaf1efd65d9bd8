import { spawn, type ChildProcess } from "node:child_process";
import { lstat, mkdir, mkdtemp, readlink, rm, symlink } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { isRelayLinked, relinkUnix, releaseUnix, takeOverUnix } from "../src/unix-socket.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Who answers on the unix socket at `path` (one line), or the connect error's code. */
function ask(path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ path });
    let data = "";
    s.on("data", (d) => (data += d.toString()));
    s.on("end", () => resolve(data.trim()));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
  });
}

/** A real service on a unix socket: socat, which unlinks its socket path when it exits (as mariadbd does). */
async function startService(path: string): Promise<ChildProcess> {
  const child = spawn("socat", [`UNIX-LISTEN:${path},fork`, "SYSTEM:echo service"], { stdio: "ignore" });
  for (let i = 0; i < 200 && (await ask(path)) !== "service"; i++) await sleep(10);
  return child;
}

function relayServer() {
  return createServer((s) => s.end("relay\n"));
}

describe("taking over a unix socket path from a running service (redirect handover)", () => {
  let dir: string;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });

  test("a symlinked path (/var/lib/mysql/mysql.sock → the server's socket): no connection ever finds it missing; the symlink comes back at stop", async () => {
    dir = await mkdtemp(join(tmpdir(), "cutover-unix-"));
    await mkdir(join(dir, "run"));
    const real = join(dir, "run/mysqld.sock");
    const app = join(dir, "mysql.sock");
    children.push(await startService(real));
    await symlink(real, app);
    const answers: string[] = [];
    let on = true;
    const loop = (async () => {
      while (on) {
        answers.push(await ask(app));
        await sleep(1);
      }
    })();
    await sleep(50);
    const server = relayServer();
    const t = await takeOverUnix(server, app, { mode: 0o666, backlog: 511 });
    await sleep(50);
    children[0]!.kill("SIGTERM"); // the service shuts down and unlinks its own path
    await sleep(100);
    on = false;
    await loop;
    expect(answers.filter((a) => a.startsWith("error"))).toEqual([]);
    expect(answers[0]).toBe("service");
    expect(answers.at(-1)).toBe("relay");
    expect(await isRelayLinked(t)).toBe(true);
    await new Promise((r) => server.close(r));
    await releaseUnix(t);
    expect(await readlink(app)).toBe(real);
  });

  test("a service serving the path itself unlinks it as it stops: the relay's socket is put back", async () => {
    dir = await mkdtemp(join(tmpdir(), "cutover-unix-"));
    const app = join(dir, "mysql.sock");
    const service = await startService(app);
    children.push(service);
    const server = relayServer();
    const t = await takeOverUnix(server, app, { mode: 0o660, backlog: 511 });
    expect(await ask(app)).toBe("relay");
    expect((await lstat(app)).mode & 0o777).toBe(0o660);
    const exited = new Promise((r) => service.once("exit", r));
    service.kill("SIGTERM");
    await exited;
    expect(await isRelayLinked(t)).toBe(false); // socat removed the path by name
    await relinkUnix(t);
    expect(await ask(app)).toBe("relay");
    await new Promise((r) => server.close(r));
    await releaseUnix(t);
    await expect(lstat(app)).rejects.toThrow(/ENOENT/);
  });
});
