import { execFile, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A host of the scenario: a network namespace with one address on the shared bridge. */
export interface Host {
  name: string;
  ns: string;
  address: string;
  /** Every address of the host (the first is `address`). */
  addresses: string[];
}

export interface Lab {
  id: string;
  bridge: string;
  hosts: Record<string, Host>;
  /** Runs a command inside a host's namespace and returns its output (throws on a non-zero exit). */
  exec(host: string, argv: string[], options?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Starts a long-running process inside a host's namespace; it is killed by PID at cleanup. */
  spawn(host: string, argv: string[], options?: SpawnOptions): ChildProcess;
  /** Kills every process in the namespaces (by PID), deletes them and the bridge. */
  destroy(): Promise<void>;
}

/**
 * Creates one bridge in the root namespace (no address on it) and one namespace per host with a veth into
 * it. Every host gets its address as /32 and a default route on the link, so all hosts share one L2
 * segment even though their addresses come from different documentation ranges (ARP answers for them).
 */
export async function createLab(hosts: Record<string, string | string[]>): Promise<Lab> {
  const id = randomBytes(3).toString("hex");
  const bridge = `czd${id}`;
  const lab: Record<string, Host> = {};
  const children: ChildProcess[] = [];
  const created: string[] = [];
  const ip = (...args: string[]) => run("ip", args);
  const destroy = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid) safeKill(c.pid, "SIGKILL");
    for (const ns of created) {
      const pids = await run("ip", ["netns", "pids", ns]).then(
        (r) => r.stdout.split(/\s+/).filter(Boolean).map(Number),
        () => [] as number[],
      );
      for (const pid of pids) safeKill(pid, "SIGKILL");
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const ns of created) await run("ip", ["netns", "del", ns]).catch(() => undefined);
    await run("ip", ["link", "del", bridge]).catch(() => undefined);
  };
  try {
    await ip("link", "add", bridge, "type", "bridge");
    await ip("link", "set", bridge, "up");
    let i = 0;
    for (const [name, given] of Object.entries(hosts)) {
      const addresses = Array.isArray(given) ? given : [given];
      const ns = `czd-${id}-${name}`;
      await ip("netns", "add", ns);
      created.push(ns);
      const outer = `czd${id}${i}`;
      const inner = `czi${id}${i}`;
      i++;
      await ip("link", "add", outer, "type", "veth", "peer", "name", inner);
      await ip("link", "set", outer, "master", bridge);
      await ip("link", "set", outer, "up");
      await ip("link", "set", inner, "netns", ns);
      const inNs = (...args: string[]) => run("ip", ["netns", "exec", ns, "ip", ...args]);
      await inNs("link", "set", "lo", "up");
      await inNs("link", "set", inner, "name", "eth0");
      // IPv6 without duplicate address detection: usable at once (one segment, addresses of our own choice)
      for (const a of addresses)
        await inNs(
          "addr",
          "add",
          `${a}/${a.includes(":") ? 64 : 32}`,
          "dev",
          "eth0",
          ...(a.includes(":") ? ["nodad"] : []),
        );
      await inNs("link", "set", "eth0", "up");
      await inNs("route", "add", "default", "dev", "eth0");
      lab[name] = { name, ns, address: addresses[0]!, addresses };
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  const nsOf = (host: string) => {
    const h = lab[host];
    if (!h) throw new Error(`no host ${host} in the lab`);
    return h.ns;
  };
  return {
    id,
    bridge,
    hosts: lab,
    exec: (host, argv, options = {}) =>
      run("ip", ["netns", "exec", nsOf(host), ...argv], {
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 << 20,
      }) as Promise<{ stdout: string; stderr: string }>,
    spawn(host, argv, options = {}) {
      const child = spawn("ip", ["netns", "exec", nsOf(host), ...argv], { stdio: "ignore", ...options });
      children.push(child);
      return child;
    },
    destroy,
  };
}

function safeKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
