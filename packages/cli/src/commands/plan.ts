import { Command } from "@commander-js/extra-typings";
import type { Deps } from "../context.js";
import { createReporter } from "../output/reporter.js";
import { loadPlan } from "../plan/load.js";
import { parseNowOption } from "./_options.js";

export function makePlanCommand(deps: Deps) {
  return new Command("plan")
    .description("Validate a plan file and show the timeline: every step, its time and its changes")
    .argument("[file]", "the plan file", "cutover.yaml")
    .option("--now <iso>", "pretend the current time is this (for planning ahead)")
    .option("--json", "print the timeline as JSON (shape: docs/plan-json.md)")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover plan
  $ cutover plan examples/colo-to-linode.yaml --now 2026-11-29T10:00:00Z
  $ cutover plan cutover.yaml --json | jq '.steps[] | {kind, at}'`,
    )
    .action(async (file, opts) => {
      const out = createReporter(deps, { json: opts.json === true, env: deps.env });
      const now = parseNowOption(opts.now, deps);
      const loaded = await loadPlan(file, { cwd: deps.cwd, now });
      for (const w of loaded.warnings) out.warn(w);
      out.data({ plan: loaded.plan.name, valid: true });
      out.line(`${loaded.file}: ok`);
    });
}
