import { providerRegistry } from "@cutover/dns";
import type { Deps } from "../../context.js";
import { createReporter } from "../../output/reporter.js";
import { defineCommand } from "../_define.js";

const ATOMIC: Record<string, string> = {
  none: "no",
  batch: "per batch",
  rrset: "per RRset",
  zone: "per zone",
  file: "per file",
  "compare-and-swap": "yes: compare-and-swap",
};

/** `cutover dns providers`: every provider a plan can name, what it can do and where its credential comes from. */
export function makeDnsProvidersCommand(deps: Deps) {
  return defineCommand(
    {
      name: "providers",
      description: "List the DNS providers a plan can name: how each writes, what is atomic, its token variables",
      needs: "nothing",
      json: "print the list as JSON",
      examples: [["cutover dns providers"], ["cutover dns providers --json | jq '.[] | select(.edge) | .name'"]],
      notes:
        "Each provider declares this in its own file in @cutover/dns; the plan's dns section takes the options listed.",
      exitCodes: { 0: "the list is shown" },
    },
    (c) => c,
  ).action((opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const rows = providerRegistry.map((d) => ({
      name: d.name,
      title: d.title,
      writes: d.traits.writes,
      atomic: d.traits.atomic,
      rrsets: d.traits.rrsets,
      minTtl: d.traits.minTtl,
      ...(d.traits.propagationSignal ? { propagationSignal: d.traits.propagationSignal } : {}),
      edge: d.traits.edge,
      tokens: [...d.tokens],
      env: [...d.env],
      credentials: d.credentials,
    }));
    if (out.json) return out.data(rows);
    for (const r of rows) {
      out.line(`${r.name}: ${r.title}`);
      out.line(`  writes      ${r.writes}`);
      out.line(
        `  atomic      ${ATOMIC[r.atomic] ?? r.atomic}; ${r.rrsets ? "RRsets" : "records"}; lowest TTL ${r.minTtl} s`,
      );
      if (r.propagationSignal) out.line(`  propagated  ${r.propagationSignal}`);
      out.line(`  credential  ${r.credentials}${r.tokens.length ? ` (${r.tokens.join(" or ")})` : ""}`);
      if (r.env.length) out.line(`  also reads  ${r.env.join(", ")}`);
      out.line(`  edge        ${r.edge ? "yes (schedule --with edge)" : "no"}`);
    }
  });
}
