import { Option } from "@commander-js/extra-typings";
import { access, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { providerDefinition, providerRegistry } from "@cutover/dns";
import type { Deps } from "../context.js";
import { UserError } from "../errors.js";
import { createReporter } from "../output/reporter.js";
import { defineCommand } from "./_define.js";

/** A plan to start from: every section, with the choices explained. */
export function planTemplate(provider: string, swapAt: Date): string {
  return `# cutover plan: edit the addresses, zones and times, then run \`cutover plan\`.
# Reference: docs/plan-file.md
name: my-move
old:                                # the host you are leaving
  ipv4: 198.51.100.10
  # ipv6: 2001:db8:10::10
  ssh: root@198.51.100.10           # where the relay runs
  # hostKey: SHA256:...             # pin the old host's SSH key (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)
new:                                # the host you are moving to
  ipv4: 203.0.113.20
  # ipv6: 2001:db8::20
  ssh: root@203.0.113.20
dns:
${providerDefinition(provider)?.template ?? `  provider: ${provider}`}
  zones: [example.com]
  records: auto                     # every A/AAAA on an old address (or a list of names)
  lowTtl: 300                       # seconds, during the move
schedule:
  swapAt: ${swapAt.toISOString().replace(/\.\d+Z$/, "Z")}   # with Z or an offset such as +01:00
  margin: 1h
  restoreTtlAfter: 24h
  drain: { quiet: 30m, deadline: 72h }
handover:
  mode: redirect                    # nftables: no connection refused; or rebind
  stopServices: [nginx]             # stopped on the old host at the swap
relay:
  ports: [80, 443]                  # forwarded to the new host while caches expire
  # proxyProtocol: { 25: v2 }       # the new host sees the real client address
  # sockets:
  #   - listen: /var/lib/mysql/mysql.sock
  #     owner: mysql:mysql
  #     mode: "0777"
  #     to: { via: ssh, host: 127.0.0.1, port: 3306 }
propagation:
  resolvers: default                # the public resolvers; or a list of IPs and DoH URLs
`;
}

export function makeInitCommand(deps: Deps) {
  return defineCommand(
    {
      name: "init",
      description: "Write a plan file to start from, with every section explained",
      needs: "nothing",
      json: "print what was written as JSON",
      dryRun: "print the plan instead of writing it",
      examples: [
        ["cutover init"],
        ["cutover init move.yaml --provider linode"],
        ["cutover init move.yaml --provider route53"],
        ["cutover dns providers", "the providers --provider takes"],
      ],
      exitCodes: { 0: "written (or printed)", 1: "the file exists already (pass --force), or cannot be written" },
    },
    (c) =>
      c
        .argument("[file]", "where to write it", "cutover.yaml")
        .addOption(
          new Option("--provider <name>", "the DNS provider")
            .choices(providerRegistry.map((d) => d.name))
            .default("cloudflare" as string),
        )
        .option("--force", "overwrite an existing file"),
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    // A swap two days from now, on the hour: far enough for a day-long TTL to be lowered first.
    const swapAt = new Date(Math.ceil((deps.now().getTime() + 2 * 86_400_000) / 3_600_000) * 3_600_000);
    const text = planTemplate(opts.provider, swapAt);
    if (opts.dryRun) {
      out.data({ dryRun: true, file, text });
      out.write(text);
      return;
    }
    const path = resolve(deps.cwd, file);
    const exists = await access(path).then(
      () => true,
      () => false,
    );
    if (exists && !opts.force)
      throw new UserError(`${file} exists already; edit it, or pass --force to replace it`, { code: "E_EXISTS" });
    await writeFile(path, text, { mode: 0o644 });
    out.data({ written: path, provider: opts.provider });
    out.line(
      `wrote ${file}: edit the hosts, zones and swap time, then run \`cutover plan ${file === "cutover.yaml" ? "" : file}\``.trimEnd(),
    );
  });
}
