import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Client, ClientChannel, ConnectConfig } from "ssh2";
import type { SshConfig } from "./config.js";
import { RelayError } from "./errors.js";

/**
 * One multiplexed SSH connection to the new host, used by every listener whose upstream goes
 * `via` it: each relayed connection is a `direct-tcpip` channel (forwardOut). The server's host key
 * must match the pinned SHA256 fingerprint or a known_hosts entry; it is never accepted blindly.
 * When the connection drops it is re-established with exponential backoff.
 */
export interface SshUpstream {
  readonly name: string;
  /** Connects now (the first time; later, waits for the current attempt). Rejects on a bad host key. */
  ready(): Promise<void>;
  forwardOut(
    dstHost: string,
    dstPort: number,
    srcHost: string,
    srcPort: number,
    timeoutMs: number,
  ): Promise<ClientChannel>;
  readonly connected: boolean;
  close(): void;
}

/** `SHA256:` + unpadded base64 of the key blob's SHA-256, as `ssh-keygen -lf` prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key blobs a known_hosts file lists for `host` on `port` (plain, bracketed and hashed entries). */
export function knownHostKeys(text: string, host: string, port: number): Buffer[] {
  const name = port === 22 ? host : `[${host}]:${port}`;
  const keys: Buffer[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let fields = line.split(/\s+/);
    if (fields[0]?.startsWith("@")) {
      if (fields[0] === "@revoked") continue; // a revoked key never matches
      fields = fields.slice(1); // @cert-authority: not supported, treated as a plain entry
    }
    const [patterns, , blob] = fields;
    if (patterns === undefined || blob === undefined) continue;
    if (hostMatches(patterns, name)) keys.push(Buffer.from(blob, "base64"));
  }
  return keys;
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith("|1|")) {
    const [, , salt, hash] = patterns.split("|");
    if (salt === undefined || hash === undefined) return false;
    const h = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return h === hash;
  }
  let match = false;
  for (const p of patterns.split(",")) {
    const negated = p.startsWith("!");
    const pat = negated ? p.slice(1) : p;
    const re = new RegExp(
      `^${pat
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
      "i",
    );
    if (re.test(name)) {
      if (negated) return false;
      match = true;
    }
  }
  return match;
}

export function createSshUpstream(
  name: string,
  config: SshConfig,
  options: { log: (line: string) => void; connectTimeoutMs: number },
): SshUpstream {
  const port = config.port ?? 22;
  const minDelay = config.reconnectMinMs ?? 250;
  const maxDelay = config.reconnectMaxMs ?? 30_000;
  let client: Client | undefined;
  let connecting: Promise<Client> | undefined;
  let delay = 0;
  let nextAttempt = 0;
  let closed = false;
  let hostKeyProblem: RelayError | undefined;

  const verify = (key: Buffer): boolean => {
    const seen = sshFingerprint(key);
    if (config.hostKey !== undefined) {
      if (seen === config.hostKey) return true;
      hostKeyProblem = new RelayError(
        `[ssh ${name}] ${config.host}:${port} offered host key ${seen}, not the pinned ${config.hostKey}; refusing to connect`,
        {
          code: "E_SSH_HOSTKEY",
          hint: "if the new host's key really changed, pin the new fingerprint (ssh-keygen -lf)",
        },
      );
      return false;
    }
    let text = "";
    try {
      text = readFileSync(config.knownHostsPath!, "utf8");
    } catch (error) {
      hostKeyProblem = new RelayError(
        `[ssh ${name}] cannot read known_hosts ${config.knownHostsPath}: ${(error as Error).message}`,
        {
          code: "E_SSH_HOSTKEY",
        },
      );
      return false;
    }
    const keys = knownHostKeys(text, config.host, port);
    if (keys.some((k) => k.equals(key))) return true;
    hostKeyProblem = new RelayError(
      keys.length === 0
        ? `[ssh ${name}] ${config.host}:${port} is not in ${config.knownHostsPath} (its key is ${seen}); refusing to connect`
        : `[ssh ${name}] ${config.host}:${port} offered host key ${seen}, which ${config.knownHostsPath} does not list for it; refusing to connect`,
      { code: "E_SSH_HOSTKEY" },
    );
    return false;
  };

  const attempt = async (): Promise<Client> => {
    // Loaded on the first connection: a relay without an SSH upstream, and every CLI command that does
    // not connect, never pays for ssh2.
    const { Client } = await import("ssh2");
    return new Promise((resolve, reject) => {
      const c = new Client();
      hostKeyProblem = undefined;
      const cfg: ConnectConfig = {
        host: config.host,
        port,
        username: config.username,
        readyTimeout: config.readyTimeoutMs ?? options.connectTimeoutMs,
        keepaliveInterval: config.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => verify(key),
      };
      if (config.privateKeyPath !== undefined) {
        try {
          cfg.privateKey = readFileSync(config.privateKeyPath);
        } catch (error) {
          reject(
            new RelayError(
              `[ssh ${name}] cannot read private key ${config.privateKeyPath}: ${(error as NodeJS.ErrnoException).code ?? "error"}`,
              {
                code: "E_SSH_KEY",
              },
            ),
          );
          return;
        }
      } else {
        const agent = config.agent ?? process.env.SSH_AUTH_SOCK;
        if (agent !== undefined) cfg.agent = agent;
      }
      let settled = false;
      c.once("ready", () => {
        settled = true;
        resolve(c);
      });
      c.on("error", (error) => {
        if (settled) return;
        settled = true;
        const msg =
          (error as { level?: string }).level === "client-authentication" ? "authentication failed" : error.message;
        reject(
          hostKeyProblem ??
            new RelayError(`[ssh ${name}] ${config.username}@${config.host}:${port}: ${msg}`, {
              code: "E_SSH_CONNECT",
              cause: error,
            }),
        );
      });
      c.on("close", () => {
        if (client === c) {
          client = undefined;
          if (!closed)
            options.log(`ssh ${name}: connection to ${config.host}:${port} closed; will reconnect when needed`);
        }
      });
      c.connect(cfg);
    });
  };

  const get = (): Promise<Client> => {
    if (closed) return Promise.reject(new RelayError(`[ssh ${name}] closed`, { code: "E_SSH_CLOSED" }));
    if (client !== undefined) return Promise.resolve(client);
    if (connecting !== undefined) return connecting;
    const wait = Math.max(0, nextAttempt - Date.now());
    connecting = new Promise<void>((r) => (wait > 0 ? setTimeout(r, wait) : r())).then(attempt).then(
      (c) => {
        connecting = undefined;
        delay = 0;
        if (closed) {
          c.end();
          throw new RelayError(`[ssh ${name}] closed`, { code: "E_SSH_CLOSED" });
        }
        client = c;
        options.log(`ssh ${name}: connected to ${config.host}:${port}`);
        return c;
      },
      (error: unknown) => {
        connecting = undefined;
        delay = delay === 0 ? minDelay : Math.min(maxDelay, delay * 2);
        nextAttempt = Date.now() + delay;
        options.log(`ssh ${name}: ${(error as Error).message}; next attempt in ${delay} ms`);
        throw error;
      },
    );
    return connecting;
  };

  return {
    name,
    get connected() {
      return client !== undefined;
    },
    async ready() {
      await get();
    },
    async forwardOut(dstHost, dstPort, srcHost, srcPort, timeoutMs) {
      const c = await get();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`ssh channel open timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
        c.forwardOut(srcHost, srcPort, dstHost, dstPort, (error, channel) => {
          clearTimeout(timer);
          if (error) reject(new Error(`ssh ${name}: ${dstHost}:${dstPort} refused the forward: ${error.message}`));
          else resolve(channel);
        });
      });
    },
    close() {
      closed = true;
      client?.end();
      client = undefined;
    },
  };
}
