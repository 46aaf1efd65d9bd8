import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { relayMainPath } from "../../../src/timeline/relay.js";
import { runCli } from "../../_run.js";

const example = resolve(import.meta.dirname, "../../../../../examples/colo-to-linode.yaml");
let dir: string;
let echo: Server;
let echoPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cutover-cli-relay-"));
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(async () => {
  echo.close();
  await rm(dir, { recursive: true, force: true });
});

async function waitForSocket(path: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ path });
      s.once("connect", () => (s.destroy(), r(true)));
      s.once("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no admin socket at ${path}`);
}

test("start --forward, status shows the clients still arriving, stop --drain waits for the relay to finish", async () => {
  const admin = join(dir, "admin.sock");
  const started = runCli(["relay", "start", "--forward", `127.0.0.1:0:127.0.0.1:${echoPort}`, "--admin", admin]);
  await waitForSocket(admin);

  const s1 = await runCli(["relay", "status", "--json", "--admin", admin]);
  expect(s1.code).toBe(0);
  const port = Number(/:(\d+)$/.exec(JSON.parse(s1.stdout).listeners[0].listen)![1]);

  // two clients from different addresses; one keeps its connection open
  for (const from of ["127.0.0.21", "127.0.0.22"]) {
    const c = connect({ host: "127.0.0.1", port, localAddress: from });
    await new Promise((r) => c.once("connect", r));
    c.resume();
    c.end("hi");
    await new Promise((r) => c.once("close", r));
  }
  const open = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.23" });
  open.on("error", () => undefined);
  open.resume();
  await new Promise((r) => open.once("connect", r));
  open.write("still here");

  const json = await runCli(["relay", "status", "--json", "--admin", admin]);
  const status = JSON.parse(json.stdout);
  expect(status.state).toBe("running");
  expect(status.total).toBe(3);
  expect(status.clients.map((c: { address: string }) => c.address)).toEqual(["127.0.0.23", "127.0.0.22", "127.0.0.21"]);

  const human = await runCli(["relay", "status", "--admin", admin]);
  expect(human.stdout).toContain("clients still arriving at the old host (3; most recent first)");
  expect(human.stdout).toMatch(/127\.0\.0\.23\s+1\s+1\s/);
  expect(human.stdout).toMatch(/LISTENER\s+UPSTREAM/);

  const dry = await runCli(["relay", "stop", "--drain", "5s", "--dry-run", "--admin", admin]);
  expect(dry.stdout).toContain("would drain the relay");
  expect(dry.stdout).toContain("1 open connection(s) get up to 5s");

  const stopping = runCli(["relay", "stop", "--drain", "5s", "--wait", "--admin", admin]);
  await new Promise((r) => setTimeout(r, 200));
  open.end(); // the last open connection finishes within the deadline
  const stop = await stopping;
  expect(stop.code).toBe(0);
  expect(stop.stdout).toContain("done: drain the relay");

  const end = await started;
  expect(end.code).toBe(0);
  expect(end.stdout).toContain("draining: 1 connection(s) open");
  expect(end.stdout).toContain("relay pid");
  expect(end.stdout).not.toContain("drain deadline: closing");

  const gone = await runCli(["relay", "status", "--admin", admin]);
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain(`no relay is running with its admin socket at ${admin}`);
  expect(gone.stderr).not.toMatch(/\n\s+at /);
});

test("stop --wait returns once the relay's process has exited (its admin socket closes earlier)", async () => {
  const admin = join(dir, "wait.sock");
  const config = join(dir, "wait.json");
  await writeFile(
    config,
    JSON.stringify({
      listeners: [{ kind: "tcp", host: "127.0.0.1", port: 0, upstream: { kind: "tcp", host: "127.0.0.1", port: 9 } }],
      admin: { path: admin },
    }),
  );
  const relay = spawn(process.execPath, [relayMainPath(), config], { stdio: "ignore" });
  for (let i = 0; i < 400 && !existsSync(admin); i++) await new Promise((r) => setTimeout(r, 25));
  const stop = await runCli(["relay", "stop", "--wait", "--admin", admin]);
  expect(stop.code).toBe(0);
  expect(() => process.kill(relay.pid!, 0)).toThrow();
});

test("start --workers 2: a helper process serves the same port; status lists both; stop ends both", async () => {
  const admin = join(dir, "workers.sock");
  const started = runCli([
    "relay",
    "start",
    "--workers",
    "2",
    "--forward",
    `127.0.0.1:0:127.0.0.1:${echoPort}`,
    "--admin",
    admin,
  ]);
  await waitForSocket(admin);
  const status = async () => JSON.parse((await runCli(["relay", "status", "--json", "--admin", admin])).stdout);
  // The helper reports once it runs; status asks it for a fresh report.
  for (let i = 0; i < 100 && (await status()).workers?.length !== 2; i++) await new Promise((r) => setTimeout(r, 50));
  const s1 = await status();
  expect(s1.workers).toHaveLength(2);
  const port = Number(/:(\d+)$/.exec(s1.listeners[0].listen)![1]);
  for (let i = 0; i < 10; i++) {
    const c = connect({ host: "127.0.0.1", port });
    const got: Buffer[] = [];
    c.on("data", (d: Buffer) => got.push(d));
    c.end(`hi ${i}`);
    await new Promise((r) => c.once("close", r));
    expect(Buffer.concat(got).toString()).toBe(`hi ${i}`);
  }
  const s2 = await status();
  expect(s2.total).toBe(10);
  expect(s2.workers.reduce((n: number, w: { total: number }) => n + w.total, 0)).toBe(10);
  const human = await runCli(["relay", "status", "--admin", admin]);
  expect(human.stdout).toMatch(/processes: pid \d+ 0 open, \d+ in total; pid \d+ 0 open, \d+ in total/);
  const helperPid: number = s2.workers[1].pid;
  expect((await runCli(["relay", "stop", "--admin", admin])).code).toBe(0);
  expect((await started).code).toBe(0);
  expect(() => process.kill(helperPid, 0)).toThrow(); // the helper is gone too
});

test("start --plan --dry-run --json prints the config and the nftables rules, changes nothing", async () => {
  const r = await runCli(["relay", "start", "--plan", example, "--dry-run", "--json", "--admin", join(dir, "x.sock")]);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.config.listeners).toHaveLength(10);
  expect(out.config.handover.mode).toBe("redirect");
  expect(out.firewall.commands[0]).toContain("table inet cutover_colo_to_linode {");
  expect(out.firewall.commands[0]).toContain("tcp dport 25 tcp flags & (syn | ack) == syn redirect to :20025");
});

test("user mistakes are one clear line, no stack", async () => {
  const bad = await runCli(["relay", "start", "--forward", "80:nowhere"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--forward 80:nowhere: expected [BIND:]PORT:HOST:PORT");
  const none = await runCli(["relay", "start"]);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain("give exactly one of FILE (or --plan FILE), --forward SPEC");
  const dur = await runCli(["relay", "stop", "--drain", "soon", "--admin", join(dir, "none.sock")]);
  expect(dur.stderr).toContain("--drain soon: write a duration");
  const smtp = await runCli(["relay", "start", "--forward", `25:127.0.0.1:${echoPort}`, "--dry-run"]);
  expect(smtp.stderr).toContain("open relay");
});
