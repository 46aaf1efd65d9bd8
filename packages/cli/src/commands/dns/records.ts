import { planFileOf } from "../_options.js";
import { discoverTargets, movingTtl, spfWithNew, spfWithoutOld, type DnsRecord } from "@cutover/dns";
import type { Deps } from "../../context.js";
import { createReporter } from "../../output/reporter.js";
import { readPlanZones } from "./_step.js";
import { ttlText } from "../../output/words.js";
import { defineCommand } from "../_define.js";

/** `cutover dns records`: what the move touches, with current TTLs and what each step would do. */
export function makeDnsRecordsCommand(deps: Deps) {
  return defineCommand(
    {
      name: "records",
      description: "List the records the move touches, their current TTLs and what each step would do to them",
      needs: "plan",
      json: "print the records as JSON",
      examples: [
        ["cutover dns records"],
        ["cutover dns records --plan cutover.yaml --json | jq '.targets[] | {name, type, ttl}'"],
      ],
      exitCodes: { 0: "the records are listed", 1: "a problem in the plan, or the provider cannot be read" },
    },
    (c) => c,
  ).action(async (file, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const ctx = await readPlanZones(planFileOf(file, opts.plan), deps);
    try {
      const { plan } = ctx.loaded;
      const caps = ctx.provider.capabilities;
      const lowTtl = plan.dns.lowTtl;
      const d = discoverTargets(ctx.records, ctx.addresses, ctx.names);
      const newFor = (r: DnsRecord) => (r.type === "AAAA" ? ctx.addresses.new.ipv6 : ctx.addresses.new.ipv4);
      const targets = d.targets.map((r) => {
        const low = movingTtl(r, lowTtl, caps);
        return {
          zone: r.zone,
          id: r.id,
          name: r.name,
          type: r.type,
          content: r.content,
          ttl: r.ttl,
          ...(r.proxied ? { proxied: true } : {}),
          ...(ttlText(r.ttl, r) === "auto" ? { ttlAuto: true } : {}),
          lower: r.proxied ? null : low.ttl < r.ttl ? { ttl: low.ttl, ...(low.note ? { note: low.note } : {}) } : null,
          swap: { content: newFor(r) ?? null, ttl: low.ttl },
          restore: { ttl: r.ttl },
        };
      });
      const spf = d.spf.map((r) => {
        const swapped = spfWithNew(r.content, ctx.addresses);
        return {
          zone: r.zone,
          id: r.id,
          name: r.name,
          type: r.type,
          content: r.content,
          ttl: r.ttl,
          swap: swapped,
          restore: spfWithoutOld(swapped, ctx.addresses),
        };
      });
      // The other members of a moving RRset stay; their TTL is the RRset's, lowered and restored with it.
      const siblings = d.siblings.map((r) => {
        const low = movingTtl(r, lowTtl, caps);
        return {
          zone: r.zone,
          id: r.id,
          name: r.name,
          type: r.type,
          content: r.content,
          ttl: r.ttl,
          ...(r.proxied ? { proxied: true } : {}),
          lower: !r.proxied && low.ttl < r.ttl ? { ttl: low.ttl } : null,
          swap: { content: r.content, ttl: low.ttl },
          restore: { ttl: r.ttl },
        };
      });
      const info = d.info
        .filter((i) => i.record.type !== "TXT")
        .map((i) => ({ name: i.record.name, type: i.record.type, content: i.record.content, why: i.why }));
      out.data({
        provider: ctx.provider.name,
        zones: plan.dns.zones,
        lowTtl,
        targets,
        siblings,
        spf,
        info,
        problems: d.problems,
      });
      const { c } = out;
      out.line(
        `${plan.dns.zones.join(", ")} on ${ctx.provider.name}: ${targets.length} record(s) move from ${[plan.old.ipv4, plan.old.ipv6].filter(Boolean).join(", ")}`,
      );
      const nameW = Math.max(4, ...targets.map((t) => t.name.length)) + 1;
      for (const t of targets) {
        const lower = t.proxied
          ? "proxied: no TTL to lower"
          : t.lower
            ? `lower ${t.ttlAuto ? "auto" : t.ttl}→${t.lower.ttl}`
            : `ttl ${t.ttlAuto ? `auto (${t.ttl} s)` : t.ttl} already ≤ ${lowTtl}`;
        out.line(
          `  ${t.name.padEnd(nameW)} ${t.type.padEnd(4)} ${t.content.padEnd(16)} ttl ${(t.ttlAuto ? "auto" : String(t.ttl)).padEnd(6)} ${c.dim("│")} ${lower}; swap → ${t.swap.content ?? "?"}${t.proxied ? " (instant for clients)" : ""}; restore ttl ${t.ttlAuto ? "auto" : t.restore.ttl}`,
        );
        if (t.lower?.note) out.line(c.dim(`      ${t.lower.note}`));
      }
      for (const s of siblings) {
        const lower = s.proxied
          ? "proxied"
          : s.lower
            ? `lower ${s.ttl}→${s.lower.ttl}`
            : `ttl ${s.ttl} already ≤ ${lowTtl}`;
        out.line(
          `  ${s.name.padEnd(nameW)} ${s.type.padEnd(4)} ${s.content.padEnd(16)} ttl ${String(s.ttl).padEnd(6)} ${c.dim("│")} stays (same RRset): ${lower}; kept at the swap; restore ttl ${s.restore.ttl}`,
        );
      }
      for (const s of spf) {
        out.line(
          `  ${s.name.padEnd(nameW)} TXT  ${c.dim("SPF")} ttl ${s.ttl}: swap → "${s.swap}"; restore → "${s.restore}"`,
        );
      }
      for (const i of info) out.line(c.dim(`  note: ${i.name} ${i.type} ${i.content}: ${i.why}`));
      for (const p of d.problems) out.warn(p);
      if (targets.length === 0)
        out.warn("no record points at the old host's address: nothing to move (already swapped?)");
    } finally {
      await ctx.provider.close?.();
    }
  });
}
