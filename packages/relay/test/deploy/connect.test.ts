import { execFile } from "node:child_process";
import { copyFile, readFile, rename, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOldHost, parseSshTarget } from "../../src/deploy/connect.js";
import type { RelayError } from "../../src/errors.js";
import { keygen, startSshd, type TestSshd } from "@cutover/testkit";

const run = promisify(execFile);
let sshd: TestSshd;

beforeAll(async () => {
  sshd = await startSshd();
}, 30_000);
afterAll(async () => {
  await sshd?.stop();
});

async function failure(p: Promise<unknown>): Promise<RelayError> {
  try {
    await p;
  } catch (error) {
    return error as RelayError;
  }
  throw new Error("expected a failure");
}

describe("connectOldHost against a real sshd", () => {
  it("logs in with a key as a non-root user, checks known_hosts, runs commands with and without sudo -n", async () => {
    const host = await connectOldHost(
      { ssh: sshd.target },
      { privateKeyPath: sshd.userKey, knownHostsPath: sshd.knownHosts },
    );
    try {
      expect(host.fingerprint).toBe(sshd.hostFingerprint);
      expect(host.isRoot).toBe(false);
      expect((await host.exec(["id", "-un"])).stdout.trim()).toBe(sshd.user);
      expect((await host.exec(["id", "-u"], { sudo: true })).stdout.trim()).toBe("0");
      // Arguments are quoted: a metacharacter reaches the program as text.
      expect((await host.exec(["echo", "a;b $(id) 'q'"])).stdout).toBe("a;b $(id) 'q'\n");
      const failed = await host.exec(["sh", "-c", "echo oops >&2; exit 3"]);
      expect(failed).toMatchObject({ code: 3, stderr: "oops\n" });
      await expect(host.check(["false"])).rejects.toThrow(/false failed \(exit 1\)/);
      const clock = await host.clock();
      expect(Math.abs(clock.skewMs)).toBeLessThan(2000);
      const file = join(sshd.home, "uploaded");
      await host.upload(file, "secret", 0o600);
      expect(await readFile(file, "utf8")).toBe("secret");
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      host.close();
    }
  });

  it("accepts a pinned SHA256 fingerprint and a hashed known_hosts entry", async () => {
    const pinned = await connectOldHost(
      { ssh: sshd.target, hostKey: sshd.hostFingerprint },
      { privateKeyPath: sshd.userKey },
    );
    pinned.close();
    const hashed = join(sshd.dir, "known_hosts.hashed");
    await copyFile(sshd.knownHosts, hashed);
    await run("ssh-keygen", ["-H", "-f", hashed]);
    expect(await readFile(hashed, "utf8")).toMatch(/^\|1\|/);
    const h = await connectOldHost({ ssh: sshd.target }, { privateKeyPath: sshd.userKey, knownHostsPath: hashed });
    h.close();
  });

  it("refuses an unknown host with the fingerprint to pin; --accept-new writes it to known_hosts", async () => {
    const empty = join(sshd.dir, "known_hosts.empty");
    await writeFile(empty, "# nothing yet\n", { mode: 0o600 });
    const e = await failure(
      connectOldHost({ ssh: sshd.target }, { privateKeyPath: sshd.userKey, knownHostsPath: empty }),
    );
    expect(e.code).toBe("E_SSH_HOSTKEY_UNKNOWN");
    expect(e.message).toContain(sshd.hostFingerprint);
    expect(e.message).toContain(`[127.0.0.1]:${sshd.port}`);
    expect(e.hint).toContain("--accept-new");
    expect(await readFile(empty, "utf8")).toBe("# nothing yet\n");

    const h = await connectOldHost(
      { ssh: sshd.target },
      { privateKeyPath: sshd.userKey, knownHostsPath: empty, acceptNew: true },
    );
    h.close();
    expect(h.acceptedNew?.line).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey.split(" ").slice(0, 2).join(" ")}`);
    expect(await readFile(empty, "utf8")).toBe(`# nothing yet\n${h.acceptedNew!.line}\n`);
    const again = await connectOldHost({ ssh: sshd.target }, { privateKeyPath: sshd.userKey, knownHostsPath: empty });
    expect(again.acceptedNew).toBeUndefined();
    again.close();
  });

  it("refuses a changed host key, even with --accept-new, and a wrong pinned fingerprint", async () => {
    const other = await keygen(join(sshd.dir, "other_host"));
    const changed = join(sshd.dir, "known_hosts.changed");
    await writeFile(changed, `[127.0.0.1]:${sshd.port} ${other}\n`, { mode: 0o600 });
    for (const acceptNew of [false, true]) {
      const e = await failure(
        connectOldHost({ ssh: sshd.target }, { privateKeyPath: sshd.userKey, knownHostsPath: changed, acceptNew }),
      );
      expect(e.code).toBe("E_SSH_HOSTKEY");
      expect(e.message).toMatch(/differs from the one .* lists/);
      expect(e.hint).toMatch(/CHANGED/);
    }
    expect(await readFile(changed, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${other}\n`);
    const wrong = `SHA256:${"A".repeat(43)}`;
    const e = await failure(connectOldHost({ ssh: sshd.target, hostKey: wrong }, { privateKeyPath: sshd.userKey }));
    expect(e.code).toBe("E_SSH_HOSTKEY");
    expect(e.message).toContain(sshd.hostFingerprint);
    expect(e.message).toContain(wrong);
  });

  it("names the host and the cause: auth, refused, timeout", async () => {
    const stranger = join(sshd.dir, "stranger");
    await keygen(stranger);
    const auth = await failure(
      connectOldHost({ ssh: sshd.target, hostKey: sshd.hostFingerprint }, { privateKeyPath: stranger }),
    );
    expect(auth.code).toBe("E_SSH_AUTH");
    expect(auth.message).toContain(`${sshd.user}@[127.0.0.1]:${sshd.port}: authentication failed`);

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const refused = await failure(
      connectOldHost(
        { ssh: `root@127.0.0.1:${closedPort}`, hostKey: sshd.hostFingerprint },
        { privateKeyPath: stranger },
      ),
    );
    expect(refused.code).toBe("E_SSH_REFUSED");
    expect(refused.message).toContain(`root@[127.0.0.1]:${closedPort}: connection refused`);

    // A TCP server that never greets: the handshake times out.
    const silent: Server = createServer((s) => s.on("error", () => undefined));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const timeout = await failure(
        connectOldHost(
          { ssh: `root@127.0.0.1:${silentPort}`, hostKey: sshd.hostFingerprint },
          { privateKeyPath: stranger, readyTimeoutMs: 400 },
        ),
      );
      expect(timeout.code).toBe("E_SSH_TIMEOUT");
      expect(timeout.message).toContain(`[127.0.0.1]:${silentPort}`);
    } finally {
      silent.close();
    }
  });

  it("says so when sudo wants a password", async () => {
    const sudoers = `/etc/sudoers.d/${sshd.user}`;
    await rename(sudoers, `${sshd.dir}/sudoers.off`);
    const host = await connectOldHost(
      { ssh: sshd.target, hostKey: sshd.hostFingerprint },
      { privateKeyPath: sshd.userKey },
    );
    try {
      const e = await failure(host.exec(["true"], { sudo: true }));
      expect(e.code).toBe("E_SSH_SUDO");
      expect(e.hint).toContain("sudoers.d");
    } finally {
      host.close();
      await rename(`${sshd.dir}/sudoers.off`, sudoers);
    }
  });

  it("parses targets", () => {
    expect(parseSshTarget("admin@old.example.com:2222")).toEqual({
      host: "old.example.com",
      port: 2222,
      username: "admin",
    });
    expect(parseSshTarget("198.51.100.10")).toEqual({ host: "198.51.100.10", port: 22, username: "root" });
    expect(parseSshTarget("a@[2001:db8::10]:22")).toEqual({ host: "2001:db8::10", port: 22, username: "a" });
  });
});
