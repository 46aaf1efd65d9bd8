import { readFile } from "node:fs/promises";
import { planFileOf } from "../_options.js";
import {
  deployRelay,
  deploySocatRelay,
  knownHostKeys,
  knownHostsName,
  REBIND_WITHOUT_FIREWALL,
  type RelayConfig,
} from "@cutover/relay";
import type { Deps } from "../../context.js";
import { UsageError, UserError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { planRelayConfig } from "../../old-host/relay-config.js";
import { formatStatus } from "./_format.js";
import { openOldHost } from "../../old-host/connect.js";
import { loadRemotePlan, withRemoteOptions } from "./_remote.js";
import { formatUtc } from "../../output/timeline.js";
import { defineCommand } from "../_define.js";

/** `--at`: `now`, or a date-time with an offset. */
export function parseAt(value: string | undefined): Date | "now" | undefined {
  if (value === undefined || value === "now") return value;
  const ms = /(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim()) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UsageError(`--at ${value}: give now or a date-time with an offset, e.g. 2026-12-01T14:00:00Z`);
  return new Date(ms);
}

/** known_hosts lines (as `[host]:port type key`) for every SSH connection in the config, from a local known_hosts. */
export async function tunnelKnownHosts(config: RelayConfig, knownHostsPath: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const text = await readFile(knownHostsPath, "utf8").catch(() => "");
  for (const [name, s] of Object.entries(config.ssh ?? {})) {
    const port = s.port ?? 22;
    out[name] = knownHostKeys(text, s.host, port).map((k) => {
      const n = k.readUInt32BE(0);
      return `${knownHostsName(s.host, port)} ${k.subarray(4, 4 + n).toString("latin1")} ${k.toString("base64")}`;
    });
  }
  return out;
}

export function makeRelayDeployCommand(deps: Deps) {
  return defineCommand(
    {
      name: "deploy",
      description:
        "Install the relay on the old host over SSH and arm the handover there (it fires by that host's clock)",
      needs: "plan",
      planHelp: "the plan file (default cutover.yaml): old.ssh says where the old host is, old.hostKey pins its key",
      json: "print the result as JSON",
      dryRun: "connect and check the host, print the config and what would run; change nothing",
      examples: [
        ["cutover relay deploy --dry-run", "what would be installed and armed"],
        ["cutover relay deploy cutover.yaml", "armed for the plan's swap time"],
        ["cutover relay deploy --plan cutover.yaml --at now", "hand over at once"],
        ["cutover relay deploy --socat", "no Node on the old host"],
      ],
      notes:
        "The relay runs as root (sudo -n for a non-root login) from /var/lib/cutover/NAME; deploying again replaces it.",
      exitCodes: {
        0: "deployed and armed (or checked, with --dry-run)",
        1: "a problem in the plan, the old host cannot be reached or trusted, or a check on it failed",
      },
    },
    (c) =>
      withRemoteOptions(c)
        .option("--at <time>", "handover time: an ISO date-time or now (default: the plan's swap time)")
        .option("--socat", "deploy the socat script instead (for hosts without Node 18+)")
        .option(
          "--new-ssh-key <file>",
          "key the old host uses to reach the new host for sockets via ssh (copied there, mode 0600)",
        ),
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const loaded = await loadRemotePlan(deps, planFileOf(file, opts.plan));
    for (const w of loaded.warnings) out.warn(w);
    const at = parseAt(opts.at);
    const home = deps.env.HOME ?? "/root";
    const knownHosts = opts.knownHosts ?? `${home}/.ssh/known_hosts`;
    const config = planRelayConfig(loaded.plan, {
      adminPath: "/run/cutover-relay.sock", // replaced by DIR/admin.sock on the host
      sshKeyPath: opts.newSshKey,
      knownHostsPath: knownHosts,
    });
    if (config.ssh !== undefined && opts.newSshKey === undefined)
      throw new UserError(
        "relay.sockets go via ssh to the new host: give --new-ssh-key FILE, a key the new host accepts",
        {
          details: [
            "it is copied into the relay's directory on the old host (mode 0600) and used only for that tunnel",
          ],
        },
      );
    const handoverAt = at === "now" ? deps.now() : (at ?? loaded.plan.schedule.swapAt);
    if (at === undefined && handoverAt.getTime() <= deps.now().getTime())
      out.warn(
        `the plan's swap time ${formatUtc(handoverAt, { seconds: true })} is past: the relay hands over as soon as it starts`,
      );

    const { host, dir } = await openOldHost(deps, out, loaded, opts);
    const say = (line: string) => out.line(`  ${line}`);
    try {
      out.line(
        `${opts.dryRun === true ? "checking" : "deploying to"} ${host.label} (host key ${host.fingerprint}), ${dir}`,
      );
      if (opts.socat === true) {
        if (loaded.plan.sync !== undefined)
          throw new UserError("--socat cannot hold connections or run the plan's sync: deploy the relay itself", {
            details: ["cutover relay deploy without --socat (Node 18+ on the old host), or remove sync: from the plan"],
          });
        const r = await deploySocatRelay(host, {
          name: loaded.plan.name,
          config,
          dir,
          at: at ?? loaded.plan.schedule.swapAt,
          knownHosts: await tunnelKnownHosts(config, knownHosts),
          dryRun: opts.dryRun === true,
          say,
        });
        for (const w of r.warnings) out.warn(w);
        out.data({ ...r, script: opts.dryRun === true ? r.script : undefined });
        if (opts.dryRun === true) {
          out.line(`would upload relay.sh to ${dir} and start it detached; the script:`);
          out.line(r.script);
        } else
          out.line(
            `socat relay running on ${host.label}, pid ${r.deployment.pid}; handover at ${r.deployment.handoverAt ?? "start"}`,
          );
        return;
      }
      const r = await deployRelay(host, {
        name: loaded.plan.name,
        config,
        dir,
        at: at ?? loaded.plan.schedule.swapAt,
        dryRun: opts.dryRun === true,
        say,
      });
      out.data(r);
      const h = r.config.handover;
      if (h?.mode === "rebind" && r.firewall === null) out.warn(REBIND_WITHOUT_FIREWALL);
      if (h?.mode === "redirect" && r.firewall === null)
        out.warn(
          `${host.label} has neither nftables nor iptables: the redirect handover cannot run there (install nftables, or use handover mode rebind)`,
        );
      if (h?.mode === "redirect" && r.firewall !== null && !r.conntrack)
        out.warn(
          `${host.label} has no conntrack (conntrack-tools): a client whose connection the stopped services reset may be refused for up to 10 s when it reconnects from the same port; install conntrack there (docs/relay.md)`,
        );
      const d = r.config.drain;
      const arm = [
        h === undefined || h.mode === "none"
          ? "no handover"
          : `handover ${h.mode} at ${h.at} (old host's clock), then stop ${(h.services ?? []).join(", ") || "no services"}`,
        ...(d?.quietAfter === undefined ? [] : [`drains when quiet, at ${d.quietAfter} at the earliest`]),
        ...(d?.stopBy === undefined ? [] : [`by ${d.stopBy} at the latest`]),
      ].join("; ");
      if (r.dryRun) {
        out.line(
          `would run node ${r.nodeVersion} ${dir}/cutover-relay.cjs under ${r.deployment.supervisor === "systemd" ? `systemd-run (unit ${r.deployment.unit})` : "its respawn wrapper (a detached process with a pid file)"}`,
        );
        if (r.replaced !== null) out.line(`would replace the relay deployed ${r.replaced.deployedAt}`);
        out.line(arm);
        out.line("config:");
        for (const line of JSON.stringify(r.config, null, 2).split("\n")) out.line(`  ${line}`);
        return;
      }
      out.line(`relay running on ${host.label}; ${arm}`);
      if (r.status !== null) for (const line of formatStatus(r.status, 5)) out.line(line);
    } finally {
      host.close();
    }
  });
}
