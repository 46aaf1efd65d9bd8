import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort } from "@cutover/testkit";

export const PDNS_SCHEMA = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";

export interface PdnsServer {
  /** The API's base URL, http://127.0.0.1:PORT. */
  apiUrl: string;
  apiKey: string;
  /** The DNS port (UDP and TCP) on 127.0.0.1. */
  dnsPort: number;
  /** Creates a zone through the API (kind Native unless given), with records (relative names, "@" = apex). */
  createZone(
    zone: string,
    records: ReadonlyArray<{ name: string; type: string; content: string; ttl: number }>,
    kind?: string,
  ): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real pdns_server (gsqlite3 backend, a fresh database from Debian's schema) on 127.0.0.1 with the
 * HTTP API on, in a temp dir; no config file, no cache (answers read back over DNS are the database's now).
 * Stopped by PID.
 */
export async function startPdns(): Promise<PdnsServer> {
  const dir = await mkdtemp(join(tmpdir(), `cutover-pdns-${process.pid}-`));
  const db = join(dir, "pdns.sqlite3");
  const schema = await readFile(PDNS_SCHEMA, "utf8");
  await new Promise<void>((resolve, reject) => {
    const p = spawn("sqlite3", [db], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => (err += String(d)));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`sqlite3: ${err}`))));
    p.stdin.end(schema);
  });
  const dnsPort = await freePort("127.0.0.1", { udp: true });
  const apiPort = await freePort("127.0.0.1");
  const apiKey = `pdns-key-${randomBytes(12).toString("hex")}`;
  const child: ChildProcess = spawn(
    "pdns_server",
    [
      "--no-config",
      "--daemon=no",
      "--guardian=no",
      "--disable-syslog",
      "--write-pid=no",
      `--socket-dir=${dir}`,
      "--launch=gsqlite3",
      `--gsqlite3-database=${db}`,
      "--api=yes",
      `--api-key=${apiKey}`,
      "--webserver=yes",
      "--webserver-address=127.0.0.1",
      `--webserver-port=${apiPort}`,
      "--webserver-allow-from=127.0.0.0/8",
      "--local-address=127.0.0.1",
      `--local-port=${dnsPort}`,
      "--cache-ttl=0",
      "--query-cache-ttl=0",
      "--negquery-cache-ttl=0",
      "--zone-cache-refresh-interval=0",
      "--primary=yes",
      "--loglevel=3",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${apiUrl}/api/v1/servers/localhost${path}`, {
      method,
      headers: { "X-API-Key": apiKey, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  for (let i = 0; ; i++) {
    try {
      const res = await api("GET", "/zones");
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (i > 200 || child.exitCode !== null) {
      // Never leave a server behind when the start fails.
      if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
      await rm(dir, { recursive: true, force: true });
      throw new Error(`pdns_server did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    apiUrl,
    apiKey,
    dnsPort,
    async createZone(zone, records, kind = "Native") {
      const sets = new Map<
        string,
        { name: string; type: string; ttl: number; records: Array<{ content: string; disabled: boolean }> }
      >();
      for (const r of records) {
        const name = r.name === "@" ? `${zone}.` : `${r.name}.${zone}.`;
        const content =
          r.type === "TXT"
            ? `"${r.content}"`
            : r.type === "CNAME" || r.type === "NS"
              ? `${r.content}.`
              : r.type === "MX"
                ? `${r.content}.`
                : r.content;
        const k = `${name}|${r.type}`;
        const s = sets.get(k) ?? { name, type: r.type, ttl: r.ttl, records: [] };
        s.records.push({ content, disabled: false });
        sets.set(k, s);
      }
      const res = await api(
        "POST",
        "/zones",
        kind === "Slave"
          ? { name: `${zone}.`, kind, masters: ["192.0.2.53"] }
          : { name: `${zone}.`, kind, nameservers: [`ns1.${zone}.`], rrsets: [...sets.values()] },
      );
      if (!res.ok) throw new Error(`pdns: creating ${zone}: ${res.status} ${await res.text()}`);
    },
    async stop() {
      if (child.exitCode === null && child.pid) {
        const exited = new Promise((r) => child.once("exit", r));
        process.kill(child.pid, "SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
