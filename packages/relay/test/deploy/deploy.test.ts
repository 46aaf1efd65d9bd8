import { stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RelayConfig } from "../../src/config.js";
import { buildRelayBundle, type RelayBundle } from "../../src/deploy/bundle.js";
import { connectOldHost } from "../../src/deploy/connect.js";
import { deployRelay, remoteRelayLogs, remoteRelayStatus, stopRemoteRelay } from "../../src/deploy/deploy.js";
import { dial, readAll, startServer } from "../_helpers.js";
import { freePort } from "../_servers.js";
import { installTestService, startSshd, type TestService, type TestSshd } from "@cutover/testkit";

let sshd: TestSshd;
let svc: TestService;
let upstream: Awaited<ReturnType<typeof startServer>>;
let bundle: RelayBundle;
let dir: string;

const open = () =>
  connectOldHost({ ssh: sshd.target, hostKey: sshd.hostFingerprint }, { privateKeyPath: sshd.userKey });

/** One request through a port: what the far side answers ("new host" from the upstream, an echo from the service). */
async function ask(port: number): Promise<string> {
  const s = await dial({ port });
  s.end("hello\n");
  return (await readAll(s)).data.toString();
}

beforeAll(async () => {
  sshd = await startSshd();
  dir = join(sshd.dir, "remote", "relay");
  svc = await installTestService(await freePort());
  upstream = await startServer((s) => {
    s.resume();
    s.on("end", () => s.end("new host\n"));
  });
  bundle = await buildRelayBundle({ outfile: join(sshd.dir, "cutover-relay.cjs") });
}, 60_000);

afterAll(async () => {
  if (sshd !== undefined) {
    const h = await open().catch(() => undefined);
    if (h) {
      await stopRemoteRelay(h, { dir }).catch(() => undefined);
      h.close();
    }
  }
  await svc?.remove();
  await upstream?.close();
  await sshd?.stop();
}, 30_000);

describe("deployRelay to a real sshd (non-root user, sudo -n, no systemd: detached with a pid file)", () => {
  it("builds one dependency-free file for Node 18+", async () => {
    expect(bundle.code.subarray(0, 19).toString()).toBe("#!/usr/bin/env node");
    expect(bundle.code.toString()).not.toMatch(/require\("ssh2"\)/); // bundled, not required
    expect(bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("arms the handover: fires at the set time by the host's clock with the laptop side gone, then status, logs, redeploy, stop", async () => {
    const host0 = await open();
    await host0.exec(["service", svc.name, "start"], { sudo: true });
    host0.close();
    // Running (its pid file written) comes before socat listens: wait for the port itself.
    for (let i = 0; i < 100 && (await ask(svc.port).catch(() => "")) !== "hello\n"; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await ask(svc.port)).toBe("hello\n"); // the old service answers (echo)

    const config: RelayConfig = {
      listeners: [
        {
          kind: "tcp",
          host: "127.0.0.1",
          port: svc.port,
          upstream: { kind: "tcp", host: "127.0.0.1", port: upstream.port },
        },
      ],
      handover: { mode: "rebind", services: [svc.name], table: `cot_dp${process.pid}` },
    };
    const at = new Date(Date.now() + 4000);
    const lines: string[] = [];
    const host = await open();
    const dry = await deployRelay(host, { name: "t-move", config, dir, at, bundle, dryRun: true });
    expect(dry.deployment.supervisor).toBe("pid");
    expect(dry.firewall).toBe("nft");
    expect(dry.conntrack).toBe(true); // CI installs conntrack-tools
    // A host without conntrack says so (the redirect handover then cannot forget reset connections).
    const bare = Object.assign(Object.create(host) as typeof host, {
      sh: (cmd: string, o?: { sudo?: boolean }) =>
        cmd.includes("command -v conntrack") ? Promise.resolve({ code: 1, stdout: "", stderr: "" }) : host.sh(cmd, o),
    });
    expect((await deployRelay(bare, { name: "t-move", config, dir, at, bundle, dryRun: true })).conntrack).toBe(false);
    expect(dry.config.handover).toMatchObject({ at: at.toISOString(), stopCommand: ["service", "{service}", "stop"] });
    await expect(stat(dir)).rejects.toThrow(); // a dry run changes nothing

    const deployed = await deployRelay(host, { name: "t-move", config, dir, at, bundle, say: (l) => lines.push(l) });
    host.close(); // the laptop side is gone from here on
    expect(deployed.status?.handover).toMatchObject({ mode: "rebind", state: "waiting", at: at.toISOString() });
    expect(lines.join("\n")).toMatch(/node \d+\.\d+\.\d+ at \/.*\n.*uploaded cutover-relay.cjs .*sha256 [0-9a-f]{16}/);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "config.json"))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).uid).toBe(0);
    expect(await ask(svc.port)).toBe("hello\n"); // before the time: still the old service

    while (Date.now() < at.getTime()) await new Promise((r) => setTimeout(r, 100));
    // The relay binds as soon as the stopped service lets go of the port (slower on a busy machine).
    for (let i = 0; i < 150 && (await ask(svc.port).catch(() => "")) !== "new host\n"; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await ask(svc.port)).toBe("new host\n"); // after: the relay has the port and forwards
    // The relay binds as soon as the service lets go of the port; the stop command may still be finishing.
    for (let i = 0; i < 100 && (await svc.running()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await svc.running()).toBe(false);

    const h2 = await open();
    try {
      const st = await remoteRelayStatus(h2, { dir });
      expect(st.running).toBe(true);
      expect(st.status?.handover).toMatchObject({ state: "done", stopped: [svc.name], error: null });
      expect(st.status?.total).toBeGreaterThanOrEqual(1);
      const log = await remoteRelayLogs(h2, { dir, lines: 50 });
      expect(log).toMatch(/handover: rebound/);
      // On time by the relay's own clock: the log line's timestamp is at or just after the armed instant.
      const fired = /^(\S+) relay\[\d+\] handover: stopped cvt-svc-/m.exec(log);
      expect(fired).not.toBeNull();
      expect(Date.parse(fired![1]!)).toBeGreaterThanOrEqual(at.getTime());
      expect(Date.parse(fired![1]!)).toBeLessThan(at.getTime() + 10_000); // includes the service stop itself

      // Deploying again replaces it: new process, same port, the old one gone. This one runs two processes
      // (workers): the bundle forks its helper from itself and hands it the port it rebinds.
      const again = await deployRelay(h2, {
        name: "t-move",
        config: { ...config, workers: 2 },
        dir,
        at: "now",
        bundle,
      });
      expect(again.replaced?.pid).toBe(deployed.deployment.pid);
      expect(again.deployment.pid).not.toBe(deployed.deployment.pid);
      expect(() => process.kill(deployed.deployment.pid!, 0)).toThrow();
      let processes: number[] = [];
      for (let i = 0; i < 100; i++) {
        const s = await remoteRelayStatus(h2, { dir });
        processes = (s.status?.workers ?? []).map((w) => w.pid);
        if (s.status?.handover?.state === "done" && processes.length === 2) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(processes).toHaveLength(2);
      // the pid file names the respawn wrapper; the relay is its child
      expect(processes).toContain(again.status!.pid);
      expect(processes).not.toContain(again.deployment.pid);
      for (let i = 0; i < 20; i++) expect(await ask(svc.port)).toBe("new host\n"); // whichever process accepts

      const stopped = await stopRemoteRelay(h2, { dir, drainMs: 2000 });
      expect(stopped).toMatchObject({ action: "drain", stopped: true });
      expect(stopped.status?.total).toBeGreaterThanOrEqual(1);
      const after = await remoteRelayStatus(h2, { dir });
      expect(after.running).toBe(false);
      for (const pid of processes) expect(() => process.kill(pid, 0)).toThrow(); // the helper too
      expect(() => process.kill(again.deployment.pid!, 0)).toThrow(); // and the wrapper
    } finally {
      h2.close();
    }
  });

  it("refuses a bad service name in the config before anything runs on the host", async () => {
    const host = await open();
    try {
      await expect(
        deployRelay(host, {
          name: "t-evil",
          dir: join(sshd.dir, "remote", "evil"),
          bundle,
          config: {
            listeners: [
              { kind: "tcp", host: "127.0.0.1", port: 1, upstream: { kind: "tcp", host: "127.0.0.1", port: 2 } },
            ],
            handover: { mode: "rebind", services: ["nginx; reboot"] },
          },
        }),
      ).rejects.toMatchObject({ code: "E_SERVICE_NAME" });
      await expect(stat(join(sshd.dir, "remote", "evil"))).rejects.toThrow();
    } finally {
      host.close();
    }
  });
});
