import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createTestNetwork, type Netns, type TestNetwork } from "@cutover/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { queryAdmin, startRelay, type RelayStatus } from "../src/index.js";
import { pattern, sleep, tempDir, waitFor } from "./_helpers.js";
import { ensureRelayBuilt, freePort, LISTENER_80, startNginx, startRelayIn, type Proc } from "./_servers.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const pkg = resolve(import.meta.dirname, "..");
const BIG = 16 * 1024 * 1024;

const nginxHttp = (dir: string, listen: string, root: string) => `
  server {
    listen ${listen};
    root ${root};
    location /big { limit_rate 6m; }
    location / { try_files $uri.txt =404; }
  }`;

describe("rebind handover (loopback, an nginx of the test's own as the service)", () => {
  test("the relay takes the port the moment nginx lets go of it, and reports the gap", async () => {
    const t = await tempDir();
    await mkdir(join(t.dir, "www"));
    await writeFile(join(t.dir, "www/small.txt"), "new\n");
    const servicePort = await freePort();
    const newPort = await freePort();
    const oldDir = join(t.dir, "old");
    const newDir = join(t.dir, "new");
    await mkdir(oldDir);
    await mkdir(newDir);
    const oldNginx = await startNginx(oldDir, nginxHttp(oldDir, `127.0.0.1:${servicePort}`, join(t.dir, "www")), [
      { port: servicePort },
    ]);
    const newNginx = await startNginx(newDir, nginxHttp(newDir, `127.0.0.1:${newPort}`, join(t.dir, "www")), [
      { port: newPort },
    ]);
    try {
      const relay = await startRelay({
        listeners: [
          {
            kind: "tcp",
            host: "127.0.0.1",
            port: servicePort,
            upstream: { kind: "tcp", host: "127.0.0.1", port: newPort },
          },
        ],
        handover: {
          mode: "rebind",
          // its own table: as root, the SYNs of the gap are held by nft rules in this (shared) namespace
          table: `cot_rb${process.pid}`,
          services: [String(oldNginx.child.pid)],
          stopCommand: ["kill", "-QUIT", "{service}"],
        },
      });
      const h = await relay.handover;
      expect(h).toMatchObject({ mode: "rebind", state: "done", stopped: [String(oldNginx.child.pid)] });
      expect(h!.gapMs).toBeGreaterThanOrEqual(0);
      expect(h!.gapMs).toBeLessThan(1000);
      const res = await fetch(`http://127.0.0.1:${servicePort}/small`);
      expect(await res.text()).toBe("new\n");
      expect(relay.status().total).toBe(1);
      await relay.stop();
    } finally {
      await oldNginx.stop();
      await newNginx.stop();
      await t.remove();
    }
  });
});

// A service that accepts slowly: connections wait in its accept queue. Closing its listening socket with
// connections still queued resets them; the relay holds new SYNs and waits for the queue to empty first.
describe.skipIf(!isRoot)("rebind with connections queued on the old service's socket (needs root)", () => {
  test("every queued connection is served by the old service; none is reset when it stops", async () => {
    const servicePort = await freePort();
    const newPort = await freePort();
    // Accepts one connection every 25 ms, answers "old", and closes; SIGTERM ends it (listener and queue).
    const service = spawn(
      "python3",
      [
        "-c",
        `import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", ${servicePort})); s.listen(128); print("up", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"old\\n"); c.close(); time.sleep(0.025)`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((r) => service.stdout!.once("data", r));
    const upstream = (await import("node:net")).createServer((c) => c.end("new\n"));
    await new Promise<void>((r) => upstream.listen(newPort, "127.0.0.1", () => r()));
    try {
      const { connect } = await import("node:net");
      // 20 connections complete their handshake in the kernel and queue: about 0.5 s of work for the service.
      const answers = Array.from(
        { length: 20 },
        () =>
          new Promise<string>((resolve) => {
            const c = connect(servicePort, "127.0.0.1");
            let got = "";
            c.on("data", (d: Buffer) => (got += d.toString()));
            c.on("end", () => resolve(got.trim()));
            c.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
          }),
      );
      await sleep(100);
      const relay = await startRelay({
        listeners: [
          {
            kind: "tcp",
            host: "127.0.0.1",
            port: servicePort,
            upstream: { kind: "tcp", host: "127.0.0.1", port: newPort },
          },
        ],
        handover: {
          mode: "rebind",
          table: `cot_q${process.pid}`,
          services: [String(service.pid)],
          stopCommand: ["kill", "-TERM", "{service}"],
          settleMs: 5000,
        },
      });
      const h = await relay.handover;
      expect(h).toMatchObject({ mode: "rebind", state: "done" });
      const got = await Promise.all(answers);
      expect(got.filter((a) => a !== "old")).toEqual([]);
      await relay.stop();
    } finally {
      service.kill("SIGKILL");
      await new Promise((r) => upstream.close(r));
    }
  });
});

describe.skipIf(!isRoot)("rebind with a service that cannot be stopped (needs root)", () => {
  test("the hold narrows at once, so the service that keeps listening gets its clients again", async () => {
    const servicePort = await freePort();
    const service = (await import("node:net")).createServer((c) => c.end("old\n"));
    await new Promise<void>((r) => service.listen(servicePort, "127.0.0.1", () => r()));
    const table = `cot_nf${process.pid}`;
    try {
      const relay = await startRelay({
        listeners: [
          { kind: "tcp", host: "127.0.0.1", port: servicePort, upstream: { kind: "tcp", host: "127.0.0.1", port: 9 } },
        ],
        handover: {
          mode: "rebind",
          table,
          services: ["svc"],
          stopCommand: ["false"],
          rebindTimeoutMs: 8000,
          settleMs: 200,
        },
      });
      // While the relay still tries to bind (8 s), the rules drop a SYN only where nobody listens.
      await waitFor(() => {
        try {
          return execFileSync("nft", ["list", "table", "inet", table], { encoding: "utf8" }).includes(
            "socket transparent 0 accept",
          );
        } catch {
          return false; // not in yet
        }
      }, 4000);
      await relay.stop();
    } finally {
      await new Promise((r) => service.close(r));
    }
  });
});

// Network namespaces and nftables need root (CI runs as root); skipped, and said so, otherwise.
describe.skipIf(!isRoot)("redirect handover inside network namespaces (needs root)", () => {
  let net: TestNetwork<"old" | "cli">;
  let OLD: Netns;
  let CLI: Netns;
  let t: Awaited<ReturnType<typeof tempDir>>;
  /** Starts the built relay program in the old host's namespace with `config` (its admin socket at
   * `NAME.sock`), and waits for that socket: the relay is then listening. */
  const startRelayInOld = async (name: string, config: Record<string, unknown>): Promise<Proc> => {
    const admin = join(t.dir, `${name}.sock`);
    const relay = await startRelayIn(OLD, t.dir, name, { ...config, admin: { path: admin } });
    for (let i = 0; i < 200 && !existsSync(admin); i++) await sleep(25);
    return relay;
  };

  beforeAll(async () => {
    ensureRelayBuilt();
    t = await tempDir();
    net = await createTestNetwork("rd", { old: { address: "198.51.100.10/24" }, cli: { address: "198.51.100.50/24" } });
    ({ old: OLD, cli: CLI } = net.hosts);
  });
  test("a service port above 45535 gets a spare port below it (port + 20000 would pass 65535)", async () => {
    const relay = await startRelayInOld("high", {
      listeners: [{ kind: "tcp", port: 50_000, upstream: { kind: "tcp", host: "127.0.0.1", port: 8081 } }],
      handover: { mode: "redirect", at: new Date(Date.now() + 3_600_000).toISOString(), services: [] },
    });
    await relay.waitForOutput("listening on [::]:30000 (redirected from 50000)");
    await relay.stop();
    // Stopped while its handover was still an hour away: it exits by itself (stop() would SIGKILL it).
    expect(relay.child.exitCode).toBe(0);
  });

  afterAll(async () => {
    await net?.remove();
    await t?.remove();
  });

  async function nginxIn(name: string, listen: string, body: string): Promise<Proc> {
    const dir = join(t.dir, name);
    await mkdir(join(dir, "www"), { recursive: true });
    await writeFile(join(dir, "www/small.txt"), `${body}\n`);
    await writeFile(join(dir, "www/big"), pattern(BIG, 5));
    // A master process, so that QUIT is graceful (with master_process off nginx exits at once on QUIT).
    const conf = `daemon off; user root; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
${nginxHttp(dir, listen, join(dir, "www"))} }`;
    await writeFile(join(dir, "nginx.conf"), conf);
    const p = OLD.spawn("/usr/sbin/nginx", ["-c", join(dir, "nginx.conf"), "-p", dir, "-e", `${dir}/error.log`]);
    await OLD.waitForListen(Number(/:(\d+)$/.exec(listen)![1]));
    return p;
  }

  function runLoad(durationMs: number, concurrency: number, downloads: number): Promise<Record<string, any>> {
    const sha = createHash("sha256").update(pattern(BIG, 5)).digest("hex");
    const child = spawn("ip", [
      "netns",
      "exec",
      CLI.name,
      process.execPath,
      join(pkg, "test/fixtures/load-client.mjs"),
      "198.51.100.10",
      "80",
      String(durationMs),
      String(concurrency),
      String(downloads),
      String(BIG),
      sha,
    ]);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    return new Promise((resolve, reject) =>
      child.on("close", () => {
        try {
          resolve(JSON.parse(out));
        } catch {
          reject(new Error(`load client: ${out}`));
        }
      }),
    );
  }

  test("under continuous load: zero failed connections, downloads in flight intact; drain loses no byte; rules removed", async () => {
    // The old service and, standing in for the new host, another nginx behind the relay.
    const oldNginx = await nginxIn("old", "198.51.100.10:80", "old");
    await nginxIn("new", "127.0.0.1:8081", "new");
    // Rules a crashed relay left behind are found and removed at start.
    OLD.exec("nft", "add table inet cutover");
    OLD.exec("nft", "add chain inet cutover prerouting { type nat hook prerouting priority dstnat; }");
    OLD.exec("nft", "add rule inet cutover prerouting tcp dport 81 redirect to :9");

    const at = new Date(Date.now() + 2500).toISOString();
    const relay = await startRelayInOld("relay", {
      listeners: [LISTENER_80],
      handover: {
        mode: "redirect",
        at,
        services: [join(t.dir, "old/nginx.pid")],
        stopCommand: ["sh", "-c", "kill -QUIT $(cat {service})"],
      },
      drain: { deadlineMs: 30_000 },
    });
    await relay.waitForOutput("removed redirect rules a previous relay left behind");

    // Load from t=0.5 s to t=5 s; the handover happens at t=2.5 s, with two 16 MiB downloads
    // (about 2.7 s each at 6 MB/s) in flight from the old nginx.
    await sleep(500);
    const load = await runLoad(4500, 4, 2);
    await relay.waitForOutput("handover: nft now sends new connections on 80→20080");
    expect(OLD.exec("ss", "-Htln", "sport = :80")).toBe(""); // the old nginx let go of port 80
    void oldNginx;
    expect({ failed: load.failed, errors: load.errors }).toEqual({ failed: 0, errors: {} });
    expect(load.errors).toEqual({});
    expect(load.bodies.old).toBeGreaterThan(20);
    expect(load.bodies.new).toBeGreaterThan(20);
    expect(load.downloads).toEqual([
      { ok: true, size: BIG, error: null },
      { ok: true, size: BIG, error: null },
    ]);
    expect(OLD.exec("nft", "list", "table", "inet", "cutover")).toContain(
      "tcp dport 80 tcp flags syn / syn,ack redirect to :20080",
    );

    // Drain with transfers in flight (these go through the relay): nothing is lost.
    const draining = runLoad(200, 1, 2);
    // both downloads are in flight through the relay before it is told to drain
    await waitFor(
      async () => ((await queryAdmin(join(t.dir, "relay.sock"), { cmd: "status" })) as RelayStatus).active >= 2,
      10_000,
    );
    await sleep(300);
    process.kill(relay.child.pid!, "SIGTERM");
    const after = await draining;
    expect(after.downloads).toEqual([
      { ok: true, size: BIG, error: null },
      { ok: true, size: BIG, error: null },
    ]);
    await new Promise((r) => (relay.child.exitCode !== null ? r(null) : relay.child.once("exit", r)));
    expect(relay.child.exitCode).toBe(0);
    await relay.waitForOutput("draining: 2 connection(s) open");
    expect(() => OLD.exec("nft", "list", "table", "inet", "cutover")).toThrow();
  }, 60_000);
});
