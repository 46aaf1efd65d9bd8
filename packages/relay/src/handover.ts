import { execFile } from "node:child_process";
import { isIP } from "node:net";
import type { Server } from "node:net";
import { promisify } from "node:util";
import { RelayError } from "./errors.js";

const run = promisify(execFile);

/** A service port whose new connections go to the relay's spare port. */
export interface RedirectRule {
  port: number;
  sparePort: number;
}

export interface FirewallPlan {
  firewall: "nft" | "iptables";
  table: string;
  /** What is applied: an nft script, or iptables argv lists. */
  commands: string[];
}

/**
 * The redirect rules as text, for `--dry-run` and the status. nftables: one table of cutover's own
 * (removing it removes every rule); prerouting catches clients from outside, output catches the host's
 * own connections to its local addresses (and not the relay's connections to the new host).
 */
export function planRedirect(
  rules: readonly RedirectRule[],
  firewall: "nft" | "iptables",
  table: string,
  addresses: readonly string[] = [],
): FirewallPlan {
  const v4 = addresses.filter((a) => isIP(a) === 4);
  const v6 = addresses.filter((a) => isIP(a) === 6);
  if (firewall === "nft") {
    // Only a SYN starts a redirect: when these rules turn on connection tracking in a namespace, connections
    // already open are picked up mid-stream, and redirecting their first tracked packet would reset them.
    // With addresses, only connections to the old host's own addresses are redirected.
    const match =
      addresses.length === 0
        ? [""]
        : [
            ...(v4.length ? [`ip daddr { ${v4.join(", ")} } `] : []),
            ...(v6.length ? [`ip6 daddr { ${v6.join(", ")} } `] : []),
          ];
    const lines = rules.flatMap((r) =>
      match.map((m) => `${m}tcp dport ${r.port} tcp flags & (syn | ack) == syn redirect to :${r.sparePort}`),
    );
    const script = [
      `table inet ${table} {`,
      `  chain prerouting {`,
      `    type nat hook prerouting priority dstnat; policy accept;`,
      ...lines.map((l) => `    ${l}`),
      `  }`,
      `  chain output {`,
      `    type nat hook output priority -100; policy accept;`,
      ...lines.map((l) => `    fib daddr type local ${l}`),
      `  }`,
      `}`,
    ].join("\n");
    return { firewall, table, commands: [script] };
  }
  const commands: string[] = [];
  for (const r of rules) {
    const tag = ["-m", "comment", "--comment", table, "-j", "REDIRECT", "--to-ports", String(r.sparePort)];
    // iptables handles IPv4; with addresses, one rule per address.
    const dsts = v4.length ? v4.map((a) => ["-d", a]) : [[]];
    for (const d of dsts) {
      commands.push(
        ["-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--syn", ...d, "--dport", String(r.port), ...tag].join(" "),
      );
      commands.push(
        [
          "-t",
          "nat",
          "-A",
          "OUTPUT",
          "-p",
          "tcp",
          ...d,
          "--dport",
          String(r.port),
          "-m",
          "addrtype",
          "--dst-type",
          "LOCAL",
          ...tag,
        ].join(" "),
      );
    }
  }
  return { firewall, table, commands };
}

async function has(bin: string): Promise<boolean> {
  try {
    await run(bin, ["--version"]);
    return true;
  } catch {
    return false;
  }
}

export async function chooseFirewall(choice: "auto" | "nft" | "iptables" | undefined): Promise<"nft" | "iptables"> {
  if (choice === "nft" || choice === "iptables") return choice;
  if (await has("nft")) return "nft";
  if (await has("iptables")) return "iptables";
  throw new RelayError("the redirect handover needs nftables (nft) or iptables, and neither is installed", {
    code: "E_HANDOVER_FIREWALL",
    hint: "install nftables, or use handover mode rebind",
  });
}

async function nft(script: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile("nft", ["-f", "-"], (error, _stdout, stderr) =>
      error
        ? reject(
            new RelayError(`nft refused the rules: ${stderr.trim() || error.message}`, { code: "E_HANDOVER_FIREWALL" }),
          )
        : resolve(),
    );
    child.stdin?.end(script);
  });
}

const IPTABLES = ["iptables", "ip6tables"] as const;

/** Installs the redirect atomically (nft) or rule by rule (iptables, IPv4 and IPv6 where available). */
export async function applyRedirect(plan: FirewallPlan): Promise<void> {
  if (plan.firewall === "nft") {
    // Creating then deleting the table first makes the whole replacement one transaction.
    await nft(`add table inet ${plan.table}\ndelete table inet ${plan.table}\n${plan.commands[0]}\n`);
    return;
  }
  for (const bin of IPTABLES) {
    if (bin === "ip6tables" && !(await has(bin))) continue;
    for (const cmd of plan.commands) {
      try {
        await run(bin, cmd.split(" "));
      } catch (error) {
        throw new RelayError(
          `${bin} ${cmd} failed: ${(error as { stderr?: string }).stderr?.trim() ?? (error as Error).message}`,
          {
            code: "E_HANDOVER_FIREWALL",
          },
        );
      }
    }
  }
}

/**
 * Removes every rule tagged as cutover's (the nft table, or iptables rules with the comment tag), also
 * those a crashed relay left behind. Returns how many it found.
 */
export async function removeRedirect(firewall: "nft" | "iptables", table: string): Promise<number> {
  let found = 0;
  if (firewall === "nft") {
    try {
      await run("nft", ["list", "table", "inet", table]);
    } catch {
      return 0;
    }
    await nft(`delete table inet ${table}\n`);
    return 1;
  }
  for (const bin of IPTABLES) {
    if (!(await has(bin))) continue;
    const { stdout } = await run(bin, ["-t", "nat", "-S"]);
    for (const line of stdout.split("\n")) {
      const words = line.trim().split(/\s+/);
      const i = words.indexOf("--comment");
      if (words[0] !== "-A" || i < 0 || words[i + 1]?.replace(/"/g, "") !== table) continue;
      words[0] = "-D";
      await run(bin, ["-t", "nat", ...words.map((w) => w.replace(/^"(.*)"$/, "$1"))]);
      found++;
    }
  }
  return found;
}

/** Runs the stop command once per service, in order; returns the ones that failed with their error. */
export async function stopServices(
  services: readonly string[],
  stopCommand: readonly string[],
  log: (line: string) => void,
): Promise<{ stopped: string[]; failed: string[] }> {
  const stopped: string[] = [];
  const failed: string[] = [];
  for (const service of services) {
    const argv = stopCommand.map((a) => a.replaceAll("{service}", service));
    try {
      await run(argv[0]!, argv.slice(1), { timeout: 120_000 });
      stopped.push(service);
      log(`handover: stopped ${service}`);
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      failed.push(`${service}: ${(e.stderr ?? "").trim() || e.message}`);
      log(`handover: could not stop ${service}: ${(e.stderr ?? "").trim() || e.message}`);
    }
  }
  return { stopped, failed };
}

/**
 * Binds `server` to host:port as soon as the port is free, trying every few ms up to `timeoutMs`.
 * Returns the gap: from the last attempt that found the port taken to the successful bind (an upper
 * bound of the time nobody listened), or 0 when it was free at the first try.
 */
export async function bindWhenFree(
  server: Server,
  listen: { host: string; port: number; backlog: number },
  timeoutMs: number,
  intervalMs = 5,
): Promise<{ gapMs: number; attempts: number }> {
  const start = performance.now();
  let lastBusy: number | undefined;
  let attempts = 0;
  for (;;) {
    attempts++;
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const onError = (e: NodeJS.ErrnoException) => resolve(e);
      server.once("error", onError);
      server.listen({ host: listen.host, port: listen.port, backlog: listen.backlog, ipv6Only: false }, () => {
        server.off("error", onError);
        resolve(undefined);
      });
    });
    if (error === undefined) return { gapMs: lastBusy === undefined ? 0 : performance.now() - lastBusy, attempts };
    if (error.code !== "EADDRINUSE") throw error;
    lastBusy = performance.now();
    if (lastBusy - start > timeoutMs)
      throw new RelayError(
        `port ${listen.port} was still in use after ${Math.round(timeoutMs / 1000)} s; the service did not let go of it`,
        {
          code: "E_HANDOVER_BIND",
        },
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
