import { execFileSync } from "node:child_process";
import { startProcess, type Proc } from "./started.js";

/** A network namespace standing in for a host, with the programs a test started in it. */
export interface Netns {
  /** `cot-LABEL-PID`: unique per test process, so concurrent runs do not collide. */
  name: string;
  /** Runs a command inside and returns its stdout; throws (with its stderr) when it fails. */
  exec(cmd: string, ...args: string[]): string;
  /** Starts a long-running program inside; stopped (by PID, last started first) by `remove`. */
  spawn(cmd: string, args: string[]): Proc;
  /** An HTTP server inside answering every request with `body` on `port` (all addresses). */
  serveText(port: number, body: string): Proc;
  /** Whether a TCP socket listens on `port` inside. */
  listening(port: number): boolean;
  /** Waits (bounded) until a TCP socket listens on `port` inside. */
  waitForListen(port: number, timeoutMs?: number): Promise<void>;
}

export interface TestNetwork<K extends string = string> {
  /** The hosts by the keys they were asked for. */
  hosts: Record<K, Netns>;
  /** Stops the programs started in the hosts and deletes the namespaces (and with them their veths and
   * firewall tables). Safe to call twice. At the process's exit, what a test never removed is removed
   * anyway (its programs SIGKILLed, its namespaces deleted). */
  remove(): Promise<void>;
}

export interface HostSpec {
  /** The host's address on the link to the other host, as `IP/PREFIX` (a pair only). */
  address?: string;
}

const live = new Set<string>();
const running = new Set<Proc>();
let exitHook = false;
let links = 0;

const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });

function deleteNetns(name: string): void {
  try {
    ip("netns", "del", name);
  } catch {
    // already gone
  }
  live.delete(name);
}

/**
 * Network namespaces as test hosts (needs root): one per key of `hosts`, named `cot-LABEL-KEY-PID`, each
 * with its loopback up. With two hosts that have addresses, a veth joins them. Whatever the test
 * starts with a host's `spawn` is stopped by `remove`; a namespace left by an earlier process with the same
 * PID is replaced.
 */
export async function createTestNetwork<K extends string>(
  label: string,
  hosts: Record<K, HostSpec>,
): Promise<TestNetwork<K>> {
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const p of running)
        if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid !== undefined)
          try {
            process.kill(p.child.pid, "SIGKILL");
          } catch {
            // gone already
          }
      for (const name of live) deleteNetns(name); // deleting the visited entry is safe in a Set's loop
    });
  }
  const made: Netns[] = [];
  const procs: Proc[] = [];
  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    for (const p of procs.reverse()) {
      await p.stop();
      running.delete(p);
    }
    for (const n of made) deleteNetns(n.name);
  };
  try {
    for (const key of Object.keys(hosts)) {
      const name = `cot-${label}-${key}-${process.pid}`;
      deleteNetns(name);
      ip("netns", "add", name);
      live.add(name);
      ip("-n", name, "link", "set", "lo", "up");
      made.push(netns(name, procs));
    }
    const addressed = (Object.entries(hosts) as [K, HostSpec][]).filter(([, h]) => h.address !== undefined);
    if (addressed.length === 2) {
      // veth names have at most 15 characters: v<pid>x<n>a/b
      const link = `v${process.pid}x${links++}`;
      ip("link", "add", `${link}a`, "type", "veth", "peer", "name", `${link}b`);
      addressed.forEach(([key, h], i) => {
        const ns = made[Object.keys(hosts).indexOf(key)]!.name;
        const dev = `${link}${i === 0 ? "a" : "b"}`;
        ip("link", "set", dev, "netns", ns);
        ip("-n", ns, "addr", "add", h.address!, "dev", dev);
        ip("-n", ns, "link", "set", dev, "up");
      });
    } else if (addressed.length !== 0) {
      throw new Error("createTestNetwork joins exactly two hosts with addresses");
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { hosts: Object.fromEntries(Object.keys(hosts).map((k, i) => [k, made[i]!])) as Record<K, Netns>, remove };
}

function netns(name: string, procs: Proc[]): Netns {
  const exec = (cmd: string, ...args: string[]) =>
    execFileSync("ip", ["netns", "exec", name, cmd, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  const spawn = (cmd: string, args: string[]) => {
    const p = startProcess("ip", ["netns", "exec", name, cmd, ...args]);
    procs.push(p);
    running.add(p);
    return p;
  };
  const listening = (port: number) => exec("ss", "-Htln", `sport = :${port}`).includes(`:${port}`);
  return {
    name,
    exec,
    spawn,
    serveText: (port, body) =>
      spawn(process.execPath, [
        "-e",
        `require("node:http").createServer((q, s) => s.end(${JSON.stringify(body)})).listen(${port}, "0.0.0.0")`,
      ]),
    listening,
    async waitForListen(port, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (!listening(port)) {
        if (Date.now() > until) throw new Error(`nothing listens on ${port} in ${name}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}
