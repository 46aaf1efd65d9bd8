import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, UNBOUND, unboundConfig } from "@cutover/testkit";
import { queryDns } from "../../src/propagation/query.js";
import { parseServerSpec } from "../../src/propagation/servers.js";

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
  const port = await freePort("127.0.0.1", { udp: true }); // the server answers on UDP and TCP
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
