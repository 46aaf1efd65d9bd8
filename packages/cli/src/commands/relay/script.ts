import { UserError } from "../../errors.js";
import { planFileOf } from "../_options.js";
import { defaultRemoteDir, planSocatScript } from "@cutover/relay";
import type { Deps } from "../../context.js";
import { createReporter } from "../../output/reporter.js";
import { planRelayConfig } from "../../old-host/relay-config.js";
import { parseAt, tunnelKnownHosts } from "./deploy.js";
import { loadRemotePlan } from "./_remote.js";
import { defineCommand } from "../_define.js";

export function makeRelayScriptCommand(deps: Deps) {
  return defineCommand(
    {
      name: "script",
      description: "Print the socat fallback as a shell script, for an old host without Node (run it there as root)",
      needs: "plan",
      json: "print { script, files, warnings } as JSON",
      examples: [
        ["cutover relay script > relay.sh", "review it, copy it, run: sudo sh relay.sh"],
        ["cutover relay script --plan cutover.yaml --at now"],
      ],
      notes:
        "Files the script expects next to it (the new host's known_hosts line) are printed as comments at the end;\n" +
        "cutover relay deploy --socat uploads everything for you.",
      exitCodes: { 0: "the script is printed", 1: "a problem in the plan" },
    },
    (c) =>
      c
        .option("--at <time>", "handover time: an ISO date-time or now (default: the plan's swap time)")
        .option("--remote-dir <dir>", "where the script will live on the old host (tunnel sockets, key, known_hosts)")
        .option(
          "--known-hosts <file>",
          "known_hosts holding the new host's key, for the MySQL tunnel (default ~/.ssh/known_hosts)",
        )
        .option("--new-ssh-key <path>", "path ON THE OLD HOST of the key for the tunnel to the new host"),
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const loaded = await loadRemotePlan(deps, planFileOf(file, opts.plan));
    for (const w of loaded.warnings) out.warn(w);
    const plan = loaded.plan;
    if (plan.sync !== undefined)
      throw new UserError("the socat script cannot hold connections or run the plan's sync: deploy the relay itself", {
        details: ["cutover relay deploy (it needs Node 18+ on the old host), or remove sync: from the plan"],
      });
    const dir = (opts.remoteDir ?? defaultRemoteDir(plan.name)).replace(/\/+$/, "");
    const knownHosts = opts.knownHosts ?? `${deps.env.HOME ?? "/root"}/.ssh/known_hosts`;
    const config = planRelayConfig(plan, { adminPath: `${dir}/admin.sock`, knownHostsPath: knownHosts });
    for (const s of Object.values(config.ssh ?? {})) {
      if (opts.newSshKey !== undefined) s.privateKeyPath = opts.newSshKey;
      else delete s.privateKeyPath;
    }
    const at = parseAt(opts.at);
    if (config.handover !== undefined)
      config.handover.at = (at === "now" ? deps.now() : (at ?? plan.schedule.swapAt)).toISOString();
    const r = planSocatScript(config, {
      name: plan.name,
      dir,
      knownHosts: await tunnelKnownHosts(config, knownHosts),
      now: deps.now(),
    });
    for (const w of r.warnings) out.warn(w);
    out.data(r);
    out.write(opts.json === true ? "" : r.script);
    for (const f of r.files)
      out.line(`# ${dir}/${f.name} (mode ${f.mode.toString(8)}):\n${f.data.trimEnd().replace(/^/gm, "#   ")}`);
  });
}
