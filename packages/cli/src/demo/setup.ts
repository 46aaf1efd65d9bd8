import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAuthoritativeServer, type AuthoritativeServer } from "@cutover/dns";
import type { ChildProcess } from "node:child_process";
import { startWebProcess, startWebService } from "./services.js";

export interface Demo {
  dir: string;
  planPath: string;
  dns: AuthoritativeServer;
  port: number;
  swapAt: Date;
  handover: "redirect" | "rebind";
  /** The old web service runs as its own process, which the relay stops at the handover. */
  oldWeb: ChildProcess;
  newWeb: Server;
  close(): Promise<void>;
}

/** A port that is free on both demo addresses. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const probe = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(0, "127.0.0.2", () => resolve((probe.address() as { port: number }).port));
    });
    await new Promise((r) => probe.close(r));
    const other = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      other.once("error", () => resolve(false));
      other.listen(port, "127.0.0.3", () => resolve(true));
    });
    if (ok) {
      await new Promise((r) => other.close(r));
      return port;
    }
  }
  throw new Error("no free port on both 127.0.0.2 and 127.0.0.3");
}

/**
 * Sets up a whole move on loopback, offline: a zone served by `cutover dns serve`'s server, the "old" web
 * service on 127.0.0.2 and the "new" one on 127.0.0.3, and a plan compressed in time (TTL 20 s lowered to
 * 2 s; the swap 30 s from now; restore 20 s after it).
 */
export async function setupDemo(now: Date, handover: "redirect" | "rebind"): Promise<Demo> {
  const dir = await mkdtemp(join(tmpdir(), "cutover-demo-"));
  const zoneFile = join(dir, "example.test.zone");
  await writeFile(
    zoneFile,
    `; The demo zone: the web site lives on the "old" host 127.0.0.2.
$ORIGIN example.test.
$TTL 20
@    IN SOA ns1 hostmaster 2026010100 60 60 600 2
@    IN NS  ns1
ns1  IN A   127.0.0.1
@    IN A   127.0.0.2
www  IN A   127.0.0.2
`,
  );
  const dns = await startAuthoritativeServer({ zoneFiles: [zoneFile], listen: "127.0.0.1:0", pollMs: 100 });
  let oldWeb: ChildProcess | undefined;
  let newWeb: Awaited<ReturnType<typeof startWebService>> | undefined;
  let port: number;
  try {
    port = await freePort();
    oldWeb = await startWebProcess("127.0.0.2", port, "old");
    newWeb = await startWebService("127.0.0.3", port, "new");
  } catch (error) {
    // Nothing started here outlives a failed setup.
    if (oldWeb?.exitCode === null) oldWeb.kill("SIGTERM");
    await dns.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const web = { old: oldWeb, new: newWeb };
  const swapAt = new Date(Math.ceil((now.getTime() + 30_000) / 1000) * 1000);
  const planPath = join(dir, "cutover.yaml");
  await writeFile(
    planPath,
    `# cutover demo: move www.example.test from 127.0.0.2 to 127.0.0.3, compressed in time.
# Named by its port: two demos on one machine have firewall tables of their own (cutover_demo_PORT).
name: demo-${port}
old: { ipv4: 127.0.0.2 }
new: { ipv4: 127.0.0.3 }
dns:
  provider: zonefile
  zones: [example.test]
  files: { example.test: example.test.zone }
  lowTtl: 2
schedule:
  swapAt: ${swapAt.toISOString()}
  margin: 3s
  preflightBefore: 5s
  restoreTtlAfter: 20s
  drain: { quiet: 4s, deadline: 1m }
handover:
  mode: ${handover}
  stopServices: ["${web.old.pid}"]   # the old web service's pid: kill stands for systemctl stop
  stopCommand: [kill, -TERM, "{service}"]
relay:
  ports: [${port}]${handover === "rebind" ? "\n  listen: 127.0.0.2" : ""}
propagation:
  resolvers: [${dns.address}]
  authoritative:
    parent: false
    bootstrap: ${dns.address}
    nsAddresses: { ns1.example.test: [${dns.address}] }
`,
  );
  return {
    dir,
    planPath,
    dns,
    port,
    swapAt,
    handover,
    oldWeb: web.old,
    newWeb: web.new,
    async close() {
      if (web.old.exitCode === null) web.old.kill("SIGTERM");
      web.new.closeAllConnections?.();
      await Promise.all([new Promise((r) => web.new.close(r)), dns.close()]);
    },
  };
}
