import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { installTestService, startSshd, type TestService, type TestSshd } from "@cutover/testkit";
import { runCli } from "../_run.js";

// The old host is a real sshd on loopback (non-root user, sudo -n); its "service" listens on 127.0.0.2:PORT,
// the "new host" is 127.0.0.1:PORT (relay.listen 127.0.0.2, new.ipv4 127.0.0.1).
let sshd: TestSshd;
let svc: TestService;
let newHost: Server;
let port: number;
let dir: string;
let plan: string;
let remoteDir: string;
let knownHosts: string;

function planText(name: string, swapAt: string): string {
  return `name: ${name}
old: { ipv4: 127.0.0.2, ssh: "${sshd.target}" }
new: { ipv4: 127.0.0.1 }
dns:
  provider: zonefile
  zones: [example.com]
  files: { example.com: example.com.zone }
schedule:
  swapAt: ${swapAt}
relay:
  ports: [${port}]
  listen: 127.0.0.2
handover: { mode: rebind, stopServices: [${svc.name}] }
`;
}

async function ask(): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.2", allowHalfOpen: true });
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString()));
    s.on("error", () => resolve(`error`));
    s.on("close", () => resolve(got));
    s.on("connect", () => s.end("hello\n"));
  });
}

beforeAll(async () => {
  sshd = await startSshd();
  dir = await mkdtemp(join(tmpdir(), "cutover-cli-deploy-"));
  remoteDir = join(sshd.dir, "remote");
  newHost = createServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => undefined);
    s.resume();
    s.on("end", () => s.end("new host\n"));
  });
  await new Promise<void>((r) => newHost.listen(0, "127.0.0.1", r));
  port = (newHost.address() as AddressInfo).port;
  svc = await installTestService(port, "127.0.0.2");
  knownHosts = join(dir, "known_hosts");
  plan = join(dir, "cutover.yaml");
}, 30_000);

afterAll(async () => {
  await runCli(["relay", "stop", "--remote", "--plan", plan, ...ssh()]).catch(() => undefined);
  // If a test failed before its own stop and the stop above could not log in: the relay processes this
  // file started run from remoteDir; end them by PID.
  let left = "";
  try {
    left = execFileSync("pgrep", ["-f", remoteDir]).toString();
  } catch {
    // pgrep exits 1 when nothing matches: nothing left
  }
  for (const pid of left.trim().split("\n").filter(Boolean))
    if (Number(pid) !== process.pid) process.kill(Number(pid), "SIGTERM");
  await svc?.remove();
  newHost?.close();
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
}, 30_000);

const ssh = () => ["--identity", sshd.userKey, "--known-hosts", knownHosts, "--remote-dir", remoteDir];

describe("cutover relay deploy / status --remote / logs / stop --remote / script", () => {
  it("deploys and arms the handover on the old host; it fires on time with no connection; status, logs, stop", async () => {
    await writeFile(plan, planText("cli-move", "2036-12-01T14:00:00Z"));
    await runCli(["relay", "stop", "--remote", "--plan", plan, ...ssh(), "--accept-new"]); // records the key
    await rm(knownHosts);

    // An unknown host is refused with the fingerprint to pin; nothing is written.
    const unknown = await runCli(["relay", "deploy", "--plan", plan, ...ssh()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(sshd.hostFingerprint);
    expect(unknown.stderr).toContain("--accept-new");
    expect(unknown.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
    await expect(stat(knownHosts)).rejects.toThrow();

    execFileSync("service", [svc.name, "start"]);
    for (let i = 0; i < 50 && (await ask()) !== "hello\n"; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await ask()).toBe("hello\n");

    const dry = await runCli(["relay", "deploy", "--plan", plan, ...ssh(), "--accept-new", "--at", "now", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toContain(`added its key ${sshd.hostFingerprint}`);
    expect(dry.stdout).toMatch(/would run node .*cutover-relay.cjs under its respawn wrapper/);
    await expect(stat(remoteDir)).rejects.toThrow();

    const at = new Date(Date.now() + 5000);
    const deployed = await runCli(["relay", "deploy", "--plan", plan, ...ssh(), "--at", at.toISOString()]);
    expect(deployed.stderr).toBe("");
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toContain(
      `relay running on ${sshd.user}@[127.0.0.1]:${sshd.port}; handover rebind at ${at.toISOString()}`,
    );
    expect(deployed.stdout).toMatch(/uploaded cutover-relay\.cjs \(\d+ KiB, sha256 [0-9a-f]{16}…\)/);
    expect(await ask()).toBe("hello\n");

    const waiting = await runCli(["relay", "status", "--remote", "--json", "--plan", plan, ...ssh()]);
    expect(waiting.code).toBe(0);
    expect(JSON.parse(waiting.stdout)).toMatchObject({ running: true, status: { handover: { state: "waiting" } } });

    while (Date.now() < at.getTime()) await new Promise((r) => setTimeout(r, 100));
    // The relay binds as soon as the stopped service lets go of the port (slower on a busy machine).
    for (let i = 0; i < 150 && (await ask()) !== "new host\n"; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await ask()).toBe("new host\n");
    for (let i = 0; i < 100; i++) {
      const st = await runCli(["relay", "status", "--remote", "--json", "--plan", plan, ...ssh()]);
      if (JSON.parse(st.stdout).status?.handover?.state !== "waiting") break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const done = await runCli(["relay", "status", "--remote", "--plan", plan, ...ssh()]);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/relay on .*: running; deployed .*pid \d+, log .*relay\.log/);
    expect(done.stdout).toMatch(
      new RegExp(`handover rebind: done; gap ≤ [\\d.]+ ms; (rules in \\w+; )?stopped ${svc.name}`),
    );

    const logs = await runCli(["relay", "logs", "-n", "30", "--plan", plan, ...ssh()]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(`handover: stopped ${svc.name}`);

    const stopped = await runCli(["relay", "stop", "--remote", "--drain", "1s", "--json", "--plan", plan, ...ssh()]);
    expect(stopped.code).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ action: "drain", stopped: true });
    const gone = await runCli(["relay", "status", "--remote", "--plan", plan, ...ssh()]);
    expect(gone.code).toBe(3);
    expect(gone.stdout).toContain("NOT running");
    expect(await ask()).toBe("error");
  }, 60_000);

  it("deploy --socat runs the socat script on the old host; status and stop find it", async () => {
    await writeFile(plan, planText("cli-move", "2036-12-01T14:00:00Z"));
    const r = await runCli(["relay", "deploy", "--socat", "--at", "now", "--plan", plan, ...ssh(), "--accept-new"]);
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/socat relay running on .*, pid \d+/);
    for (let i = 0; i < 50 && (await ask()) !== "new host\n"; i++) await new Promise((x) => setTimeout(x, 100));
    expect(await ask()).toBe("new host\n");
    const st = await runCli(["relay", "status", "--remote", "--json", "--plan", plan, ...ssh()]);
    expect(JSON.parse(st.stdout)).toMatchObject({ running: true, deployment: { kind: "socat" } });
    const stop = await runCli(["relay", "stop", "--remote", "--plan", plan, ...ssh()]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain("stopped the relay");
    expect(await ask()).toBe("error");
    expect(await readFile(join(remoteDir, "relay.log"), "utf8")).toMatch(/relay-socat\[\d+\] stopped/);
  }, 60_000);

  it("script prints the socat fallback; bad --at and a host without old.ssh are clear errors", async () => {
    await writeFile(plan, planText("cli-move", "2027-12-01T14:00:00Z"));
    const s = await runCli(["relay", "script", "--plan", plan]);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/^#!\/bin\/sh/);
    expect(s.stdout).toContain(`TCP4-LISTEN:${port},bind=127.0.0.2,reuseaddr,fork,backlog=4096`);
    expect(s.stdout).toContain(`SERVICES=${svc.name}`);
    expect(s.stdout).toContain(`AT=${Date.parse("2027-12-01T14:00:00Z") / 1000}`);
    const bad = await runCli(["relay", "deploy", "--plan", plan, "--at", "tomorrow"]);
    expect(bad.code).toBe(2); // bad usage
    expect(bad.stderr).toContain("--at tomorrow: give now or a date-time with an offset");
    await writeFile(plan, planText("cli-move", "2036-12-01T14:00:00Z").replace(`, ssh: "${sshd.target}"`, ""));
    const noSsh = await runCli(["relay", "logs", "--plan", plan]);
    expect(noSsh.code).toBe(1);
    expect(noSsh.stderr).toContain("the plan has no old.ssh");
  });
});
