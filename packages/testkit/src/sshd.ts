import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

import { freePort } from "./ports.js";

const run = promisify(execFile);

/**
 * A real OpenSSH server for the deploy tests: /usr/sbin/sshd on a free loopback port, its config and
 * throwaway host and user keys in a temp dir, and a throwaway non-root user (unique per run, so test
 * files running at once do not share one) with passwordless sudo. `stop()` stops sshd by its PID and
 * removes the user, its sudoers file and the temp dir.
 */
export interface TestSshd {
  dir: string;
  port: number;
  user: string;
  uid: number;
  home: string;
  /** The user's private key (ed25519, no passphrase). */
  userKey: string;
  /** The host key's public line (`ssh-ed25519 AAAA...`) and its `SHA256:` fingerprint. */
  hostPublicKey: string;
  hostFingerprint: string;
  /** A known_hosts file (mode 0600) listing the host key for [127.0.0.1]:port. */
  knownHosts: string;
  /** `user@127.0.0.1:port`. */
  target: string;
  stop(): Promise<void>;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: "127.0.0.1" });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`sshd did not listen on ${port}: ${output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function keygen(path: string, comment = "cutover-test"): Promise<string> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return (await readFile(`${path}.pub`, "utf8")).trim();
}

export async function fingerprintOf(pubPath: string): Promise<string> {
  const { stdout } = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", pubPath]);
  return stdout.split(/\s+/)[1]!;
}

export async function startSshd(options: { sudo?: boolean } = {}): Promise<TestSshd> {
  const dir = await mkdtemp(join(tmpdir(), "cutover-sshd-"));
  const user = `cvt${randomBytes(4).toString("hex")}`;
  const home = join(dir, "home");
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child!.once("exit", r));
      process.kill(child.pid, "SIGTERM");
      await exited;
    }
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation dir
    const hostPublicKey = await keygen(join(dir, "host_ed25519"), "host");
    const hostFingerprint = await fingerprintOf(join(dir, "host_ed25519.pub"));
    const userPub = await keygen(join(dir, "user_ed25519"), user);
    // '*' as the password: no password login, but not a locked account (sshd refuses those without PAM).
    await run("useradd", ["-M", "-d", home, "-s", "/bin/sh", "-p", "*", user]);
    cleanups.push(() => run("userdel", [user]));
    const { stdout: uidText } = await run("id", ["-u", user]);
    const uid = Number(uidText.trim());
    await mkdir(home, { mode: 0o755 });
    await chown(home, uid, uid);
    await chmod(dir, 0o755); // the user must reach its home
    const sudoers = `/etc/sudoers.d/${user}`;
    if (options.sudo !== false) {
      await writeFile(sudoers, `${user} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
      cleanups.push(() => rm(sudoers, { force: true }));
    }
    await mkdir(join(dir, "authorized_keys"));
    await writeFile(join(dir, "authorized_keys", user), `${userPub}\n`, { mode: 0o644 });
    const port = await freePort();
    const config = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_ed25519")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}/%u`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      "AllowTcpForwarding yes",
      "AllowStreamLocalForwarding yes",
      `AllowUsers ${user}`,
      "Subsystem sftp /usr/lib/openssh/sftp-server",
      "LogLevel VERBOSE",
      "",
    ].join("\n");
    await writeFile(join(dir, "sshd_config"), config);
    const knownHosts = join(dir, "known_hosts");
    await writeFile(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey.split(" ").slice(0, 2).join(" ")}\n`, {
      mode: 0o600,
    });
    let out = "";
    child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    await waitForPort(port, child, () => out);
    return {
      dir,
      port,
      user,
      uid,
      home,
      userKey: join(dir, "user_ed25519"),
      hostPublicKey,
      hostFingerprint,
      knownHosts,
      target: `${user}@127.0.0.1:${port}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
