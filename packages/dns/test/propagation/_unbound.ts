import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { UNBOUND, unboundConfig } from "@cutover/testkit";
import { queryDns } from "../../src/propagation/query.js";
import { parseServerSpec } from "../../src/propagation/servers.js";

/** A port free for both UDP and TCP on 127.0.0.1. */
export async function freePort(): Promise<number> {
  for (;;) {
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(0, "127.0.0.1", () => r()));
    const port = (tcp.address() as { port: number }).port;
    const udp = createSocket("udp4");
    const ok = await new Promise<boolean>((r) => {
      udp.once("error", () => r(false));
      udp.bind(port, "127.0.0.1", () => r(true));
    });
    await new Promise<void>((r) => tcp.close(() => r()));
    if (ok) await new Promise<void>((r) => udp.close(() => r()));
    if (ok) return port;
  }
}

export interface Unbound {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a real Unbound (a caching resolver) on loopback, in `dir`, with stub zones pointing at local
 * authoritative servers. No TTL floor, no prefetch, no serve-stale: caches expire exactly with their TTL.
 */
export async function startUnbound(
  dir: string,
  stubs: Record<string, string[]>,
  options: { threads?: number } = {},
): Promise<Unbound> {
  const port = await freePort();
  const conf = join(dir, "unbound.conf");
  const stubAddrs = Object.fromEntries(
    Object.entries(stubs).map(([zone, addrs]) => [zone, addrs.map((a) => a.replace(":", "@"))]),
  );
  await writeFile(
    conf,
    unboundConfig({ dir, interfaces: [`127.0.0.1@${port}`], port, stubs: stubAddrs, threads: options.threads ?? 1 }),
  );
  const child: ChildProcess = spawn(UNBOUND, ["-d", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const address = `127.0.0.1:${port}`;
  const spec = parseServerSpec(address);
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`unbound exited: ${stderr}`);
    const r = await queryDns(spec, "localhost", "A", { timeoutMs: 200, retries: 0 });
    if (r.response) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    address,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(child.pid!, "SIGTERM");
      await exited;
    },
  };
}
