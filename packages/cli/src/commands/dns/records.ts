import { planFileOf } from "../_options.js";
import type { Deps } from "../../context.js";
import { infoToJson, recordToJson } from "../../output/records.js";
import { createReporter } from "../../output/reporter.js";
import { readPlanZones } from "./_step.js";
import { ttlText } from "../../output/words.js";
import { defineCommand } from "../_define.js";
import { recordChanges, planMove } from "@cutover/core";

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
      const lowTtl = plan.dns.lowTtl;
      // The move as every view plans it; each record's line renders its change in each step.
      const d = planMove(ctx.records, ctx.addresses, {
        names: ctx.names,
        lowTtl,
        capabilities: ctx.provider.capabilities,
      });
      const targets = d.targets.map((r) => {
        const steps = recordChanges(d, r);
        return {
          ...recordToJson(r),
          ...(ttlText(r.ttl, r) === "auto" ? { ttlAuto: true } : {}),
          lower: steps.lower
            ? { ttl: steps.lower.after.ttl, ...(steps.lower.notes ? { note: steps.lower.notes.join("; ") } : {}) }
            : null,
          swap: { content: steps.swap?.after.content ?? null, ttl: steps.swap?.after.ttl ?? r.ttl },
          restore: { ttl: steps.restore?.after.ttl ?? r.ttl },
        };
      });
      const spf = d.spf.map((r) => {
        const steps = recordChanges(d, r);
        return {
          ...recordToJson(r),
          swap: steps.swap?.after.content ?? r.content,
          restore: steps.restore?.after.content ?? r.content,
        };
      });
      // The other members of a moving RRset stay; their TTL is the RRset's, lowered and restored with it.
      const siblings = d.siblings.map((r) => {
        const steps = recordChanges(d, r);
        return {
          ...recordToJson(r),
          lower: steps.lower ? { ttl: steps.lower.after.ttl } : null,
          swap: { content: r.content, ttl: steps.swap?.after.ttl ?? r.ttl },
          restore: { ttl: steps.restore?.after.ttl ?? r.ttl },
        };
      });
      const info = d.info.filter((i) => i.record.type !== "TXT").map(infoToJson);
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
