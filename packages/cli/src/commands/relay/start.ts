import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  defaultSparePort,
  describeUpstream,
  forkHelpers,
  hasSharedListeners,
  listenerName,
  parseRelayConfig,
  planRedirect,
  startRelay,
  type RelayConfig,
  type RelayHelpers,
} from "@cutover/relay";
import type { Deps } from "../../context.js";
import { ExitCode, UsageError, UserError } from "../../errors.js";
import { createReporter, type Reporter } from "../../output/reporter.js";
import { loadPlan } from "../../plan/load.js";
import { relayMainPath } from "../../timeline/relay.js";
import { defaultAdminPath, parseForwardSpec, planRelayConfig } from "../../old-host/relay-config.js";
import { formatStatus } from "./_format.js";
import { defineCommand } from "../_define.js";
import { optionalPlanFileOf } from "../_options.js";
import { formatDuration } from "@cutover/core";

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function makeRelayStartCommand(deps: Deps) {
  return defineCommand(
    {
      name: "start",
      description: "Run the relay in the foreground: forward what still reaches this (old) host to the new one",
      needs: "plan?",
      planHelp: "take listeners, handover and drain from this plan's relay, new, handover and schedule sections",
      json: "print JSON: the config with --dry-run, else the final status when the relay stops",
      dryRun: "print the relay config (and firewall rules) without starting",
      examples: [
        ["cutover relay start --forward 80:203.0.113.20:80 --forward 443:203.0.113.20:443"],
        ["cutover relay start --forward 25:203.0.113.20:25/v2", "PROXY protocol v2 to Postfix"],
        ["cutover relay start cutover.yaml --dry-run", "the config and nftables rules"],
        ["cutover relay start --plan cutover.yaml --ssh-key /root/.ssh/id_ed25519"],
        ["cutover relay start cutover.yaml --workers 4", "four processes share the ports"],
      ],
      notes: "SIGTERM or Ctrl-C drains (stop accepting, finish open connections); a second one stops at once.",
      exitCodes: {
        0: "the relay stopped after draining (or the config was printed)",
        1: "a problem in the plan or config, or a port cannot be bound",
        130: "stopped at once by a second Ctrl-C or SIGTERM",
      },
    },
    (c) =>
      c
        .option(
          "--forward <spec>",
          "[BIND:]PORT:HOST:PORT or /SOCKET:HOST:PORT, /v1 or /v2 adds PROXY protocol (repeatable)",
          collect,
        )
        .option("--config <file>", "a relay config as JSON (what --dry-run --json prints)")
        .option("--admin <path>", "the admin socket (mode 0600) that status and stop talk to")
        .option(
          "--workers <n>",
          "processes serving connections (the old host's cores; default the plan's relay.workers, else 1)",
        )
        .option("--ssh-key <file>", "private key for the SSH connection to the new host (sockets via ssh)")
        .option("--known-hosts <file>", "known_hosts to check the new host's key when the plan pins none"),
  ).action(async (file, given) => {
    const opts = { ...given, plan: optionalPlanFileOf(file, given.plan) };
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const adminPath = opts.admin ?? defaultAdminPath(deps.env);
    const sources = [opts.plan, opts.forward, opts.config].filter((x) => x !== undefined).length;
    if (sources !== 1)
      throw new UsageError("give exactly one of FILE (or --plan FILE), --forward SPEC (repeatable) or --config FILE", {
        details: ["e.g. cutover relay start --forward 80:203.0.113.20:80"],
      });
    let config: RelayConfig;
    if (opts.plan !== undefined) {
      // The relay may be (re)started after the swap; whether the swap is still ahead is the timeline's concern.
      const loaded = await loadPlan(opts.plan, { cwd: deps.cwd, now: new Date(0) });
      for (const w of loaded.warnings) out.warn(w);
      const known = opts.knownHosts ?? resolve(homedir(), ".ssh/known_hosts");
      config = planRelayConfig(loaded.plan, { adminPath, sshKeyPath: opts.sshKey, knownHostsPath: known });
    } else if (opts.config !== undefined) {
      let text: string;
      try {
        text = await readFile(resolve(deps.cwd, opts.config), "utf8");
      } catch (error) {
        throw new UserError(
          `cannot read ${opts.config}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      try {
        config = parseRelayConfig(JSON.parse(text));
      } catch (error) {
        if (error instanceof SyntaxError) throw new UserError(`${opts.config} is not JSON: ${error.message}`);
        throw error;
      }
      config.admin ??= { path: adminPath };
      if (opts.admin !== undefined) config.admin = { path: opts.admin };
    } else {
      const listeners = opts.forward!.map(parseForwardSpec);
      for (const l of listeners)
        if (l.kind === "tcp" && l.port === 25 && l.proxyProtocol === undefined)
          out.warn(
            "--forward 25 without PROXY protocol: the new mail server will see every client as this host. If this host's " +
              "address is in Postfix's mynetworks there, it becomes an open relay. Add /v2 and set postscreen_upstream_proxy_protocol = haproxy.",
          );
      config = { listeners, admin: { path: adminPath } };
    }
    if (opts.workers !== undefined) {
      const n = Number(opts.workers);
      if (!Number.isInteger(n) || n < 1 || n > 64)
        throw new UsageError(`--workers ${opts.workers}: expected a whole number from 1 to 64`);
      config.workers = n;
    }
    parseRelayConfig(config);

    if (opts.dryRun === true) {
      printDryRun(out, config);
      return;
    }
    await runForeground(deps, out, config);
  });
}

function printDryRun(out: Reporter, config: RelayConfig): void {
  const h = config.handover;
  const rules =
    h?.mode === "redirect"
      ? planRedirect(
          config.listeners.flatMap((l) =>
            l.kind === "tcp" ? [{ port: l.port, sparePort: l.sparePort ?? defaultSparePort(l.port) }] : [],
          ),
          h.firewall === "iptables" ? "iptables" : "nft",
          h.table ?? "cutover",
        )
      : undefined;
  out.data({ dryRun: true, config, firewall: rules ?? null });
  out.line("would start the relay with:");
  for (const l of config.listeners) {
    const pp = l.kind !== "udp" && l.proxyProtocol !== undefined ? ` (PROXY ${l.proxyProtocol})` : "";
    out.line(`  ${listenerName(l)} → ${describeUpstream(l.upstream)}${pp}`);
  }
  if (config.admin) out.line(`  admin socket ${config.admin.path}`);
  if (h !== undefined && h.mode !== "none") {
    out.line(
      `handover ${h.mode} at ${h.at ?? "start"}; then stop: ${(h.services ?? []).join(", ") || "(no services)"}`,
    );
    if (rules) for (const line of rules.commands.join("\n").split("\n")) out.line(`  ${line}`);
  }
  const d = config.drain;
  if (d?.quietMs !== undefined)
    out.line(
      `drains when no client arrived for ${formatDuration(d.quietMs, { whole: true })}${d.quietAfter ? ` (at ${d.quietAfter} at the earliest)` : ""}`,
    );
  if (d?.stopBy !== undefined) out.line(`drains at ${d.stopBy} at the latest`);
}

async function runForeground(deps: Deps, out: Reporter, config: RelayConfig): Promise<void> {
  const log = (line: string) => out.line(`${deps.now().toISOString()} ${line}`);
  // workers > 1: helper processes run the relay program on a copy of this config (0600, removed at the end).
  let helperDir: string | undefined;
  let helpers: RelayHelpers | undefined;
  if ((config.workers ?? 1) > 1 && hasSharedListeners(config)) {
    helperDir = await mkdtemp(join(tmpdir(), "cutover-relay-"));
    const file = join(helperDir, "relay.json");
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    helpers = forkHelpers(config.workers! - 1, relayMainPath(), file, [], log);
  }
  let relay;
  try {
    relay = await startRelay(config, { log, now: () => deps.now().getTime(), helpers });
  } catch (error) {
    await helpers?.stop();
    if (helperDir !== undefined) await rm(helperDir, { recursive: true, force: true });
    throw error;
  }
  out.line(`relay running (pid ${process.pid}); admin socket ${config.admin?.path ?? "(none)"}; Ctrl-C drains`);
  let signals = 0;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (sig === "SIGINT") interrupted = true;
    if (signals === 1) {
      log(`${sig}: draining (again to stop at once)`);
      void relay.drain();
    } else void relay.stop();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  void relay.handover.then((h) => {
    if (h?.state === "failed") out.warn(`handover failed: ${h.error}`);
  });
  try {
    await relay.stopped;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    if (helperDir !== undefined) await rm(helperDir, { recursive: true, force: true });
  }
  const status = relay.status();
  out.data({ stopped: true, status });
  for (const line of formatStatus(status, 20)) out.line(line);
  // Ctrl-C exits 130 as documented; SIGTERM (systemctl stop) is an asked-for stop and exits 0.
  if (interrupted) throw new ExitCode(130);
}
