import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
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
  /**
   * The dead man's switch: the rules match only while the relay keeps renewing a mark that expires after
   * this many seconds (an nft set element with a timeout; an iptables `recent` list). Undefined: always.
   */
  aliveSeconds: number | undefined;
}

export interface FirewallSpec {
  /** Service ports whose new connections go to the relay's spare port. */
  redirects: readonly RedirectRule[];
  /**
   * Ports whose new connections (SYNs) are dropped while no socket listens on them, so clients retry
   * (after 1 s, then 3 s) instead of being refused: the service port in a rebind, the spare ports while
   * a relay restarts. A SYN for a port someone listens on passes untouched.
   */
  hold: readonly number[];
  /**
   * Drop every new SYN on the hold ports, whoever listens: the first phase of a rebind, while the old
   * service empties its accept queue and stops (a connection still queued when it closes its listening
   * socket is reset by the kernel).
   */
  holdAll?: boolean;
  /** Only connections to these addresses (the old host's own) are redirected; default every local one. */
  addresses?: readonly string[];
  aliveSeconds?: number | undefined;
}

/** How long the rules outlive the relay's last renewal (it renews every second). */
export const ALIVE_SECONDS = 4;

/**
 * The redirect rules of `planFirewall` with every spare port held while nobody listens (a relay that
 * restarts), for `--dry-run`, the status, the socat script and the relay itself. `aliveSeconds` null: no
 * dead man's switch (the socat script, which has no process to renew it).
 */
export function planRedirect(
  rules: readonly RedirectRule[],
  firewall: "nft" | "iptables",
  table: string,
  addresses: readonly string[] = [],
  aliveSeconds: number | null = ALIVE_SECONDS,
): FirewallPlan {
  return planFirewall(
    { redirects: rules, hold: rules.map((r) => r.sparePort), addresses, aliveSeconds: aliveSeconds ?? undefined },
    firewall,
    table,
  );
}

/**
 * The rules as text. nftables: one table of cutover's own (removing it removes every rule); prerouting
 * catches clients from outside, output catches the host's own connections to its local addresses (and
 * not the relay's connections to the new host); an input chain holds SYNs for a port nobody listens on.
 */
export function planFirewall(spec: FirewallSpec, firewall: "nft" | "iptables", table: string): FirewallPlan {
  const addresses = spec.addresses ?? [];
  const alive = spec.aliveSeconds;
  const v4 = addresses.filter((a) => isIP(a) === 4);
  const v6 = addresses.filter((a) => isIP(a) === 6);
  const hold = [...new Set(spec.hold)].sort((a, b) => a - b);
  if (firewall === "nft") {
    const live = alive === undefined ? "" : "meta l4proto @alive ";
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
    const lines = spec.redirects.flatMap((r) =>
      match.map((m) => `${m}tcp dport ${r.port} tcp flags & (syn | ack) == syn redirect to :${r.sparePort}`),
    );
    const syn = `${live}tcp dport { ${hold.join(", ")} } tcp flags & (syn | ack) == syn`;
    const script = [
      `table inet ${table} {`,
      ...(alive === undefined ? [] : [`  set alive {`, `    type inet_proto; flags timeout;`, `  }`]),
      ...(lines.length === 0
        ? []
        : [
            `  chain prerouting {`,
            `    type nat hook prerouting priority dstnat; policy accept;`,
            ...lines.map((l) => `    ${live}${l}`),
            `  }`,
            `  chain output {`,
            `    type nat hook output priority -100; policy accept;`,
            ...lines.map((l) => `    ${live}fib daddr type local ${l}`),
            `  }`,
          ]),
      // `socket` finds the listening socket the SYN would reach (after the redirect): if there is one, the
      // SYN passes; if not, it is dropped and the client sends it again a second later.
      ...(hold.length === 0
        ? []
        : [
            `  chain hold {`,
            `    type filter hook input priority filter; policy accept;`,
            ...(spec.holdAll ? [] : [`    ${syn} socket transparent 0 accept`]),
            `    ${syn} drop`,
            `  }`,
          ]),
      `}`,
      ...(alive === undefined ? [] : [`add element inet ${table} alive { tcp timeout ${alive}s }`]),
    ].join("\n");
    return { firewall, table, commands: [script], aliveSeconds: alive };
  }
  const commands: string[] = [];
  const tag = ["-m", "comment", "--comment", table];
  // The IPv4 form; ip6tables gets the same rule with its own list and mask (iptablesArgv).
  const live =
    alive === undefined
      ? []
      : ["-m", "recent", "--name", `${table}4`, "--rcheck", "--seconds", String(alive), "--mask", "0.0.0.0"];
  for (const r of spec.redirects) {
    const to = [...tag, "-j", "REDIRECT", "--to-ports", String(r.sparePort)];
    // iptables handles IPv4; with addresses, one rule per address.
    const dsts = v4.length ? v4.map((a) => ["-d", a]) : [[]];
    for (const d of dsts) {
      const base = ["-p", "tcp", "--syn", ...d, "--dport", String(r.port), ...live];
      commands.push(["-t", "nat", "-A", "PREROUTING", ...base, ...to].join(" "));
      commands.push(["-t", "nat", "-A", "OUTPUT", ...base, "-m", "addrtype", "--dst-type", "LOCAL", ...to].join(" "));
    }
  }
  if (hold.length > 0) {
    // A chain of our own: RETURN when a socket listens (the admin's own INPUT rules still apply), else DROP.
    const chain = holdChain(table);
    commands.push(
      `-N ${chain}`,
      ...(spec.holdAll ? [] : [`-A ${chain} -m socket --nowildcard -j RETURN`]),
      `-A ${chain} -j DROP`,
    );
    for (const port of hold)
      commands.push(
        ["-I", "INPUT", "1", "-p", "tcp", "--syn", "--dport", String(port), ...live, ...tag, "-j", chain].join(" "),
      );
  }
  return { firewall, table, commands, aliveSeconds: alive };
}

function holdChain(table: string): string {
  return `${table.toUpperCase()}_HOLD`;
}

/** One rule for one binary: ip6tables gets the dead man's switch of its own family. */
function iptablesArgv(cmd: string, bin: "iptables" | "ip6tables", table: string): string[] {
  const argv = cmd.split(" ");
  if (bin === "iptables") return argv;
  return argv.map((w, i) =>
    w === `${table}4` && argv[i - 1] === "--name"
      ? `${table}6`
      : w === "0.0.0.0" && argv[i - 1] === "--mask"
        ? "::"
        : w,
  );
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
  const found = await findFirewall(choice);
  if (found !== undefined) return found;
  throw new RelayError("the redirect handover needs nftables (nft) or iptables, and neither is installed", {
    code: "E_HANDOVER_FIREWALL",
    hint: "install nftables, or use handover mode rebind",
  });
}

/** The firewall to use (nft if present), or undefined when the host has neither. */
export async function findFirewall(
  choice: "auto" | "nft" | "iptables" | undefined,
): Promise<"nft" | "iptables" | undefined> {
  if (choice === "nft" || choice === "iptables") return choice;
  if (await has("nft")) return "nft";
  if (await has("iptables")) return "iptables";
  return undefined;
}

/** What a rebind costs on a host without a firewall to hold new connections, in one line. */
export const REBIND_WITHOUT_FIREWALL =
  "rebind without nftables or iptables: connections that arrive between the service closing its port and the relay binding it (a few ms) are refused; use redirect, or install nftables";

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

/**
 * Installs the rules: atomically with nft (one transaction replaces a previous relay's table, so a restarted
 * relay takes over without a moment without them), rule by rule with iptables (IPv4, and IPv6 where
 * available). A failure halfway through throws; the caller removes what went in (removeRedirect).
 */
export async function applyRedirect(plan: FirewallPlan): Promise<void> {
  if (plan.firewall === "nft") {
    // Creating then deleting the table first makes the whole replacement one transaction.
    await nft(`add table inet ${plan.table}\ndelete table inet ${plan.table}\n${plan.commands[0]}\n`);
    return;
  }
  await removeRedirect("iptables", plan.table);
  for (const bin of IPTABLES) {
    if (bin === "ip6tables" && !(await has(bin))) continue;
    for (const cmd of plan.commands) {
      // Redirects are IPv4 rules (`-d` with an IPv4 address, or none): ip6tables gets the hold chain only.
      if (bin === "ip6tables" && cmd.includes("REDIRECT")) continue;
      try {
        await run(bin, iptablesArgv(cmd, bin, plan.table));
      } catch (error) {
        throw new RelayError(
          `${bin} ${cmd} failed: ${(error as { stderr?: string }).stderr?.trim() ?? (error as Error).message}`,
          { code: "E_HANDOVER_FIREWALL" },
        );
      }
    }
  }
  await renewRedirect(plan);
}

/** Renews the dead man's switch: the rules keep matching for `aliveSeconds` from now. */
export async function renewRedirect(plan: FirewallPlan): Promise<void> {
  if (plan.aliveSeconds === undefined) return;
  if (plan.firewall === "nft") {
    // Adding an element that exists keeps its old expiry: add (in case it expired), delete, add, in one transaction.
    const el = `inet ${plan.table} alive { tcp timeout ${plan.aliveSeconds}s }`;
    await nft(`add element ${el}\ndelete element inet ${plan.table} alive { tcp }\nadd element ${el}\n`);
    return;
  }
  // A `recent` list keyed by 0.0.0.0 (every address masked away): writing it marks "seen now".
  await writeFile(`/proc/net/xt_recent/${plan.table}4`, "+0.0.0.0\n");
  if (existsSync(`/proc/net/xt_recent/${plan.table}6`)) await writeFile(`/proc/net/xt_recent/${plan.table}6`, "+::\n");
}

/** Whether a previous relay's rules are still in force (installed, and its switch not yet expired). */
export async function redirectAlive(firewall: "nft" | "iptables", table: string): Promise<boolean> {
  if (firewall === "nft") {
    try {
      const { stdout } = await run("nft", ["list", "table", "inet", table]);
      return !stdout.includes("set alive") || /elements = \{ tcp/.test(stdout);
    } catch {
      return false;
    }
  }
  try {
    const nat = await run("iptables", ["-t", "nat", "-S"]);
    const filter = await run("iptables", ["-t", "filter", "-S"]);
    if (!`${nat.stdout}${filter.stdout}`.includes(`--comment ${table} `)) return false;
  } catch {
    return false;
  }
  // The kernel keeps the list's entry; whether it is recent enough to match, the rules decide. Rules whose
  // switch expired are replaced at the handover all the same.
  return true;
}

/**
 * Removes every rule tagged as cutover's (the nft table, or iptables rules with the comment tag and the
 * hold chain), also those a crashed relay left behind; with `only: "hold"`, the held SYNs only. Returns how
 * many it found. Removing the NAT rules ends the address translation of the connections they redirected
 * (the kernel forgets NAT bindings when the last NAT hook goes), so the relay removes them only when it
 * has no connection left; a dead relay's rules stay in place, matching nothing once its switch expired.
 */
export async function removeRedirect(
  firewall: "nft" | "iptables",
  table: string,
  only: "all" | "hold" = "all",
): Promise<number> {
  let found = 0;
  if (firewall === "nft") {
    let text: string;
    try {
      text = (await run("nft", ["list", "table", "inet", table])).stdout;
    } catch {
      return 0;
    }
    if (only === "hold") {
      if (!/chain hold \{/.test(text)) return 0;
      await nft(`delete chain inet ${table} hold\n`);
    } else await nft(`delete table inet ${table}\n`);
    return 1;
  }
  for (const bin of IPTABLES) {
    if (!(await has(bin))) continue;
    for (const t of only === "hold" ? ["filter"] : ["nat", "filter"]) {
      const { stdout } = await run(bin, ["-t", t, "-S"]);
      for (const line of stdout.split("\n")) {
        const words = line.trim().split(/\s+/);
        const i = words.indexOf("--comment");
        if (words[0] !== "-A" || i < 0 || words[i + 1]?.replace(/"/g, "") !== table) continue;
        words[0] = "-D";
        await run(bin, ["-t", t, ...words.map((w) => w.replace(/^"(.*)"$/, "$1"))]);
        found++;
      }
      if (t === "filter" && stdout.includes(`-N ${holdChain(table)}`)) {
        await run(bin, ["-F", holdChain(table)]);
        await run(bin, ["-X", holdChain(table)]);
        found++;
      }
    }
  }
  return found;
}

/**
 * Owns the rules for one relay: installs, renews every second, removes. Every change goes through one
 * queue, so whatever the order of events (a stop during the install, a signal, a failure halfway), the
 * last word is the removal: once `close()` is called, an install queued or running is undone and no later
 * one goes in.
 */
export interface FirewallGuard {
  /** Installs (or replaces) the rules unless closed; resolves true when they are in force. */
  install(plan: FirewallPlan): Promise<boolean>;
  /** Stops holding SYNs for ports nobody listens on (a draining relay: they are refused again). */
  releaseHold(): Promise<void>;
  /** Removes the rules (also a previous relay's), for good; returns how many were found. */
  close(): Promise<number>;
  readonly closed: boolean;
}

export function createFirewallGuard(
  firewall: "nft" | "iptables",
  table: string,
  log: (line: string) => void,
): FirewallGuard {
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  let removal: Promise<number> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failedRenewals = 0;
  const enqueue = <T>(op: () => Promise<T>): Promise<T> => {
    const p = queue.then(op);
    queue = p.catch(() => undefined);
    return p;
  };
  return {
    get closed() {
      return closed;
    },
    install(plan) {
      return enqueue(async () => {
        if (closed) return false;
        try {
          await applyRedirect(plan);
        } catch (error) {
          // Whatever went in before the failure comes out again.
          await removeRedirect(firewall, table).catch(() => undefined);
          throw error;
        }
        if (plan.aliveSeconds !== undefined) {
          clearInterval(timer);
          timer = setInterval(() => {
            void enqueue(async () => {
              if (closed) return;
              try {
                await renewRedirect(plan);
                failedRenewals = 0;
              } catch (error) {
                if (failedRenewals++ % 30 === 0) log(`could not renew the redirect rules: ${(error as Error).message}`);
              }
            });
          }, 1000);
          timer.unref();
        }
        return true;
      });
    },
    releaseHold() {
      return enqueue(async () => {
        if (!closed) await removeRedirect(firewall, table, "hold");
      });
    },
    close() {
      closed = true;
      clearInterval(timer);
      removal ??= enqueue(() => removeRedirect(firewall, table));
      return removal;
    },
  };
}

/**
 * Connections the kernel holds for the listening sockets on these local ports and nobody has accepted
 * yet: completed ones in accept queues, and half-open ones (SYN received, waiting for the client's ACK).
 * Read from /proc/net/tcp and tcp6 of the caller's network namespace; null where they cannot be read.
 */
export async function pendingConnections(
  ports: readonly number[],
  read: (path: string) => Promise<string> = (path) => readFile(path, "utf8"),
): Promise<{ queued: number; halfOpen: number } | null> {
  const wanted = new Set(ports);
  let queued = 0;
  let halfOpen = 0;
  let readAny = false;
  for (const path of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = await read(path);
    } catch {
      continue;
    }
    readAny = true;
    // "  sl  local_address rem_address   st tx_queue:rx_queue ..."; for a listener rx_queue is its accept queue.
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5) continue;
      const port = Number.parseInt(f[1]!.slice(f[1]!.lastIndexOf(":") + 1), 16);
      if (!wanted.has(port)) continue;
      if (f[3] === "0A") queued += Number.parseInt(f[4]!.split(":")[1] ?? "0", 16) || 0;
      else if (f[3] === "03") halfOpen++;
    }
  }
  return readAny ? { queued, halfOpen } : null;
}

/**
 * Waits (polling every few ms, at most `timeoutMs`) until nothing waits to be accepted on these ports;
 * returns what was still waiting at the end (zeros when they emptied), or null where /proc cannot tell.
 */
export async function waitForAcceptQueues(
  ports: readonly number[],
  timeoutMs: number,
): Promise<{ queued: number; halfOpen: number } | null> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    // One pause first: a SYN that passed the firewall just before the rule may still be on its way in.
    await new Promise((r) => setTimeout(r, 5));
    const p = await pendingConnections(ports);
    if (p === null || (p.queued === 0 && p.halfOpen === 0) || performance.now() >= until) return p;
  }
}

/**
 * After the services stop: forgets the connection-tracking entries of the connections they reset. nft's
 * redirect lives in a nat chain, which sees only the first packet of a new entry; a reset leaves its entry
 * in CLOSE state for 10 s, and a client that reuses the same source port within them sends a SYN the kernel
 * attaches to that stale entry (it reopens one only when the client closed it), so the SYN bypasses the
 * redirect and is refused by the stopped service's port. Deleting those entries makes every such SYN new.
 * Needs `conntrack` (conntrack-tools); without it the relay says so and goes on. Returns the entries deleted.
 */
export async function forgetClosedConnections(
  ports: readonly number[],
  log: (line: string) => void,
): Promise<number | undefined> {
  let deleted = 0;
  for (const port of ports) {
    try {
      const r = await run("conntrack", ["-D", "-p", "tcp", "--orig-port-dst", String(port), "--state", "CLOSE"], {
        timeout: 5000,
      });
      deleted += Number(/(\d+) flow entr/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 0);
    } catch (error) {
      const e = error as { code?: string | number; stderr?: string; stdout?: string };
      if (e.code === "ENOENT") {
        log(
          "handover: conntrack (conntrack-tools) is not installed: a client that reuses, within 10 s, the port of a connection the stopped service reset can be refused once",
        );
        return undefined;
      }
      // Exit 1 with "0 flow entries" is nothing to delete.
      deleted += Number(/(\d+) flow entr/.exec(`${e.stdout ?? ""}${e.stderr ?? ""}`)?.[1] ?? 0);
    }
  }
  if (deleted > 0) log(`handover: forgot ${deleted} connection(s) the stopped services reset (conntrack)`);
  return deleted;
}

/** Runs the stop command once per service, in order; returns the ones that failed with their error. */
export async function stopServices(
  services: readonly string[],
  stopCommand: readonly string[],
  log: (line: string) => void,
  verb: "stop" | "start" = "stop",
): Promise<{ stopped: string[]; failed: string[] }> {
  const stopped: string[] = [];
  const failed: string[] = [];
  const done = verb === "stop" ? "stopped" : "started";
  for (const service of services) {
    const argv = stopCommand.map((a) => a.replaceAll("{service}", service));
    try {
      await run(argv[0]!, argv.slice(1), { timeout: 120_000 });
      stopped.push(service);
      log(`handover: ${done} ${service}`);
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      failed.push(`${service}: ${(e.stderr ?? "").trim() || e.message}`);
      log(`handover: could not ${verb} ${service}: ${(e.stderr ?? "").trim() || e.message}`);
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
