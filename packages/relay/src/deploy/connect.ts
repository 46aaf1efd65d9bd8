import { appendFile, mkdir, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { dirname } from "node:path";
import type { AlgorithmList, ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import { RelayError } from "../errors.js";
import { knownHostKeys, sshFingerprint } from "../ssh.js";
import { shellJoin } from "./_shell.js";

/** What the plan says about the old host: `old.ssh` (`user@host[:port]`) and an optional pinned `old.hostKey`. */
export interface OldHostSpec {
  ssh?: string | undefined;
  hostKey?: string | undefined;
}

export interface ConnectOldHostOptions {
  /** Private key file (OpenSSH or PEM, no passphrase); else the agent. */
  privateKeyPath?: string | undefined;
  /** ssh-agent socket; default SSH_AUTH_SOCK. */
  agent?: string | undefined;
  /** known_hosts to check the key against when the plan pins none (hashed entries too). */
  knownHostsPath?: string | undefined;
  /** An unknown host (not in known_hosts, nothing pinned): append its key to known_hosts instead of refusing. */
  acceptNew?: boolean | undefined;
  /** Default 10 s. */
  readyTimeoutMs?: number | undefined;
  env?: Record<string, string | undefined>;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Run through `sudo -n` unless the login user is root. */
  sudo?: boolean;
  stdin?: string | Buffer;
  /** Default 120 s. */
  timeoutMs?: number;
}

/** An open SSH connection to the old host, with the few operations deploy and service control need. */
export interface OldHost {
  /** `user@host:port`, for messages. */
  readonly label: string;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The host key's `SHA256:` fingerprint, as verified. */
  readonly fingerprint: string;
  /** Set when `acceptNew` wrote a new known_hosts entry (the caller shows it). */
  readonly acceptedNew: { knownHostsPath: string; line: string } | undefined;
  readonly isRoot: boolean;
  /** Runs an argv (every word shell-quoted); resolves with the exit code, never rejects on a non-zero one. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Runs a shell script with `sh -c`. */
  sh(script: string, options?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but a non-zero exit is an error that names the host, the command and its stderr. */
  check(argv: readonly string[], options?: ExecOptions): Promise<string>;
  /** Writes a file over SFTP, created with `mode` (as the login user). */
  upload(path: string, data: Buffer | string, mode: number): Promise<void>;
  /** The host's clock against ours: skew (host minus local, ms, at the midpoint of the round trip). */
  clock(now?: () => number): Promise<{ skewMs: number; rttMs: number; remote: string }>;
  close(): void;
}

/** `root@198.51.100.10`, `admin@old.example.com:2222`, `[2001:db8::10]:22` → host, port, user (default root). */
export function parseSshTarget(target: string): { host: string; port: number; username: string } {
  const at = target.lastIndexOf("@");
  const username = at >= 0 ? target.slice(0, at) : "root";
  const rest = at >= 0 ? target.slice(at + 1) : target;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracket) return { host: bracket[1]!, port: bracket[2] ? Number(bracket[2]) : 22, username };
  if (isIP(rest) !== 6) {
    const m = /^(.*):(\d+)$/.exec(rest);
    if (m) return { host: m[1]!, port: Number(m[2]), username };
  }
  return { host: rest, port: 22, username };
}

/** The name a known_hosts line uses: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type written inside an SSH public key blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return "unknown";
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString("latin1");
}

/** Host key algorithms that a key of this type is offered under. */
function algorithmsFor(type: string): string[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/**
 * Opens an SSH connection to the old host. The host key must match the plan's pinned fingerprint, or
 * an entry for the host in known_hosts; an unknown key is refused with its fingerprint (or, with
 * `acceptNew`, appended to known_hosts); a key that differs from the known one is always refused.
 * Errors (`RelayError`) name the host and the cause: E_SSH_REFUSED, E_SSH_TIMEOUT, E_SSH_AUTH,
 * E_SSH_HOSTKEY (changed), E_SSH_HOSTKEY_UNKNOWN, E_SSH_DNS, E_SSH_CONNECT.
 */
export async function connectOldHost(spec: OldHostSpec, options: ConnectOldHostOptions = {}): Promise<OldHost> {
  if (spec.ssh === undefined || spec.ssh === "")
    throw new RelayError("the plan says nothing about how to reach the old host", {
      code: "E_SSH_TARGET",
      hint: "add old.ssh, e.g. old: { ssh: admin@198.51.100.10 }",
    });
  const { host, port, username } = parseSshTarget(spec.ssh);
  const label = `${username}@${knownHostsName(host, port)}`;
  const env = options.env ?? process.env;
  const name = knownHostsName(host, port);

  let known: Buffer[] = [];
  let knownText = "";
  if (spec.hostKey === undefined && options.knownHostsPath !== undefined) {
    try {
      knownText = await readFile(options.knownHostsPath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT")
        throw new RelayError(`cannot read ${options.knownHostsPath}: ${(error as Error).message}`, {
          code: "E_SSH_HOSTKEY",
        });
    }
    known = knownHostKeys(knownText, host, port);
  }
  if (spec.hostKey === undefined && options.knownHostsPath === undefined)
    throw new RelayError(`${label}: no way to check its host key`, {
      code: "E_SSH_HOSTKEY_UNKNOWN",
      hint: "pin old.hostKey in the plan (ssh-keygen -lf on the host's key) or give a known_hosts file",
    });

  let privateKey: Buffer | undefined;
  if (options.privateKeyPath !== undefined) {
    try {
      privateKey = await readFile(options.privateKeyPath);
    } catch (error) {
      throw new RelayError(
        `cannot read the private key ${options.privateKeyPath}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
        { code: "E_SSH_KEY" },
      );
    }
  }
  const agent = options.agent ?? env.SSH_AUTH_SOCK;
  if (privateKey === undefined && (agent === undefined || agent === ""))
    throw new RelayError(`${label}: no key to log in with`, {
      code: "E_SSH_KEY",
      hint: "give --identity FILE or start ssh-agent (SSH_AUTH_SOCK)",
    });

  let offered: { blob: Buffer; fingerprint: string } | undefined;
  let hostKeyProblem: RelayError | undefined;
  let acceptedNew: { knownHostsPath: string; line: string } | undefined;
  const verify = (key: Buffer): boolean => {
    const fingerprint = sshFingerprint(key);
    offered = { blob: key, fingerprint };
    if (spec.hostKey !== undefined) {
      if (fingerprint === spec.hostKey) return true;
      hostKeyProblem = new RelayError(
        `${label} offered host key ${fingerprint}, not the ${spec.hostKey} pinned in the plan (old.hostKey); refusing to connect`,
        {
          code: "E_SSH_HOSTKEY",
          hint: "someone may be intercepting the connection; if the host was reinstalled, check the new key on its console and pin it",
        },
      );
      return false;
    }
    if (known.some((k) => k.equals(key))) return true;
    if (known.length > 0) {
      hostKeyProblem = new RelayError(
        `${label} offered host key ${fingerprint} (${keyType(key)}), which differs from the one ${options.knownHostsPath} lists for ${name}; refusing to connect`,
        {
          code: "E_SSH_HOSTKEY",
          hint: "the host key CHANGED: someone may be intercepting the connection; if the host was reinstalled, check the key on its console and replace the known_hosts entry",
        },
      );
      return false;
    }
    if (options.acceptNew === true) {
      acceptedNew = {
        knownHostsPath: options.knownHostsPath!,
        line: `${name} ${keyType(key)} ${key.toString("base64")}`,
      };
      return true;
    }
    hostKeyProblem = new RelayError(
      `${label} is not in ${options.knownHostsPath}; its host key is ${fingerprint} (${keyType(key)}); refusing to connect`,
      {
        code: "E_SSH_HOSTKEY_UNKNOWN",
        hint: `check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_${keyType(key).replace(/^ssh-|-sha2-nistp\d+$/g, "")}_key.pub), then pin it (old.hostKey: ${fingerprint}) or run again with --accept-new`,
      },
    );
    return false;
  };

  const cfg: ConnectConfig = {
    host,
    port,
    username,
    readyTimeout: options.readyTimeoutMs ?? 10_000,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    hostVerifier: (key: Buffer) => verify(key),
  };
  // Ask first for the key types known_hosts has for this host (as OpenSSH does), so a host with several
  // keys is not mistaken for a changed one.
  const knownTypes = [...new Set(known.map(keyType))].flatMap(algorithmsFor);
  if (knownTypes.length > 0)
    cfg.algorithms = {
      serverHostKey: { prepend: knownTypes } as unknown as AlgorithmList<ServerHostKeyAlgorithm>,
    };
  if (privateKey !== undefined) cfg.privateKey = privateKey;
  else cfg.agent = agent!;

  const { Client } = await import("ssh2"); // loaded when a command connects, not when the CLI starts
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    client.once("ready", () => {
      settled = true;
      resolve();
    });
    client.on("error", (error: Error & { level?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      reject(hostKeyProblem ?? classify(label, error));
    });
    client.once("close", () => {
      if (settled) return;
      settled = true;
      reject(
        hostKeyProblem ??
          new RelayError(`${label} closed the connection during the handshake`, { code: "E_SSH_CONNECT" }),
      );
    });
    client.connect(cfg);
  });
  client.on("error", () => undefined); // later errors surface through the operation that fails

  if (acceptedNew !== undefined) {
    await mkdir(dirname(acceptedNew.knownHostsPath), { recursive: true, mode: 0o700 });
    const sep = knownText === "" || knownText.endsWith("\n") ? "" : "\n";
    await appendFile(acceptedNew.knownHostsPath, `${sep}${acceptedNew.line}\n`, { mode: 0o600 });
  }

  const exec = (argv: readonly string[], o: ExecOptions = {}): Promise<ExecResult> =>
    runCommand(o.sudo === true && username !== "root" ? `sudo -n -- ${shellJoin(argv)}` : shellJoin(argv), o);

  const runCommand = (command: string, o: ExecOptions): Promise<ExecResult> =>
    new Promise((resolve, reject) => {
      client.exec(command, (error, stream) => {
        if (error) {
          reject(
            new RelayError(`${label}: cannot run a command: ${error.message}`, { code: "E_SSH_EXEC", cause: error }),
          );
          return;
        }
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let code = -1;
        const timer = setTimeout(() => {
          stream.close();
          reject(
            new RelayError(
              `${label}: ${command.slice(0, 80)} did not finish within ${(o.timeoutMs ?? 120_000) / 1000} s`,
              {
                code: "E_SSH_EXEC_TIMEOUT",
              },
            ),
          );
        }, o.timeoutMs ?? 120_000);
        stream.on("data", (d: Buffer) => out.push(d));
        stream.stderr.on("data", (d: Buffer) => err.push(d));
        stream.on("exit", (c: number | null, signal?: string) => {
          code = c ?? (signal === undefined ? -1 : 128);
        });
        stream.on("close", () => {
          clearTimeout(timer);
          const stderr = Buffer.concat(err).toString("utf8");
          if (code !== 0 && /sudo: (a password is required|a terminal is required)/.test(stderr))
            reject(
              new RelayError(
                `${label}: sudo needs a password for ${username}; cutover runs sudo -n (non-interactive)`,
                {
                  code: "E_SSH_SUDO",
                  hint: `allow ${username} passwordless sudo (a file in /etc/sudoers.d), or log in as root`,
                },
              ),
            );
          else resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr });
        });
        if (o.stdin !== undefined) stream.end(o.stdin);
        else stream.end();
      });
    });

  const host_: OldHost = {
    label,
    host,
    port,
    username,
    get fingerprint() {
      return offered?.fingerprint ?? "";
    },
    acceptedNew,
    isRoot: username === "root",
    exec,
    sh: (script, o = {}) => exec(["sh", "-c", script], o),
    async check(argv, o = {}) {
      const r = await exec(argv, o);
      if (r.code !== 0)
        throw new RelayError(
          `${label}: ${shellJoin(argv).slice(0, 120)} failed (exit ${r.code})${r.stderr.trim() ? `: ${r.stderr.trim().split("\n").slice(-3).join(" / ")}` : ""}`,
          { code: "E_REMOTE_COMMAND" },
        );
      return r.stdout;
    },
    upload: (path, data, mode) =>
      new Promise((resolve, reject) => {
        client.sftp((error, sftp) => {
          if (error) {
            reject(new RelayError(`${label}: SFTP is not available: ${error.message}`, { code: "E_SSH_SFTP" }));
            return;
          }
          sftp.writeFile(path, data, { mode }, (e) => {
            sftp.end();
            if (e)
              reject(new RelayError(`${label}: cannot write ${path} over SFTP: ${e.message}`, { code: "E_SSH_SFTP" }));
            else resolve();
          });
        });
      }),
    async clock(now = Date.now) {
      const t0 = now();
      const r = await runCommand("date -u +%s.%N", {});
      const t1 = now();
      const remoteMs = Math.round(Number.parseFloat(r.stdout.trim()) * 1000);
      if (r.code !== 0 || Number.isNaN(remoteMs))
        throw new RelayError(`${label}: cannot read its clock (date -u +%s.%N): ${r.stderr.trim()}`, {
          code: "E_REMOTE_COMMAND",
        });
      return { skewMs: remoteMs - (t0 + t1) / 2, rttMs: t1 - t0, remote: new Date(remoteMs).toISOString() };
    },
    close() {
      client.end();
    },
  };
  return host_;
}

function classify(label: string, error: Error & { level?: string; code?: string }): RelayError {
  if (error.level === "client-authentication")
    return new RelayError(`${label}: authentication failed (the server accepted none of the offered keys)`, {
      code: "E_SSH_AUTH",
      hint: "check --identity or the agent's keys, and the user's authorized_keys on the host",
      cause: error,
    });
  if (error.level === "client-timeout")
    return new RelayError(`${label}: timed out waiting for the SSH handshake`, {
      code: "E_SSH_TIMEOUT",
      hint: "the host answers TCP but no SSH server greets; check the port",
      cause: error,
    });
  if (error.code === "ECONNREFUSED")
    return new RelayError(`${label}: connection refused (no SSH server listens there)`, {
      code: "E_SSH_REFUSED",
      cause: error,
    });
  if (error.code === "ETIMEDOUT" || error.code === "EHOSTUNREACH" || error.code === "ENETUNREACH")
    return new RelayError(`${label}: cannot reach the host (${error.code})`, { code: "E_SSH_TIMEOUT", cause: error });
  if (error.code === "ENOTFOUND" || error.code === "EAI_AGAIN")
    return new RelayError(`${label}: the host name does not resolve (${error.code})`, {
      code: "E_SSH_DNS",
      cause: error,
    });
  return new RelayError(`${label}: ${error.message}`, { code: "E_SSH_CONNECT", cause: error });
}
