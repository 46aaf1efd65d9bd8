import type { Deps } from "../context.js";
import { UserError } from "../errors.js";
import { createReporter } from "../output/reporter.js";
import { formatPlanTime, formatUtc, printTimeline, timelineToJson } from "../output/timeline.js";
import { timeZoneOption } from "../output/time.js";
import { loadPlan } from "../plan/load.js";
import { readPlanRecords } from "../timeline/records.js";
import { acceptPlanChanges } from "../timeline/session.js";
import { parseNowOption, planFileOf } from "./_options.js";
import { defineCommand } from "./_define.js";
import { count } from "../output/words.js";
import { planTimeline } from "@cutover/core";

export function makePlanCommand(deps: Deps) {
  return defineCommand(
    {
      name: "plan",
      description: "Validate a plan file and show the timeline: every step, its time and the records it changes",
      needs: "plan",
      json: "print the timeline as JSON (shape: docs/plan-json.md)",
      examples: [
        ["cutover plan"],
        ["cutover plan examples/colo-to-linode.yaml --now 2026-11-29T10:00:00Z"],
        ["cutover plan cutover.yaml --json | jq '.steps[] | {kind, at}'"],
      ],
      exitCodes: { 0: "the plan is valid and safe", 1: "a problem in the plan (each listed with its line)" },
    },
    (c) =>
      c
        .option("--now <iso>", "plan as if the current time were this (an ISO time with offset)")
        .option("--accept-risk", "accept a swap too soon for the TTL drop to reach every cache (shown as a warning)")
        .option("--accept-changes", "adopt an edited plan file for a run already under way (shows the difference)")
        .option("--state <dir>", "the run's state directory, with --accept-changes")
        .option(
          "--tz <zone>",
          "the second time column's zone, e.g. Europe/Berlin (default: the plan's timezone, else TZ)",
        ),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const now = parseNowOption(opts.now, deps);
    if (opts.acceptChanges) {
      const accepted = await acceptPlanChanges({
        file,
        cwd: deps.cwd,
        env: deps.env,
        now,
        stateDir: opts.state,
        acceptRisk: opts.acceptRisk === true,
      });
      if (!accepted)
        throw new UserError("no run of this plan has started; there are no changes to accept", { code: "E_NO_RUN" });
      out.data({ accepted: true, diff: accepted.diff });
      if (accepted.diff === "") out.line("the plan is unchanged since the run started");
      else {
        out.line(accepted.diff);
        out.line("accepted: the run continues with the edited plan");
      }
      return;
    }
    const loaded = await loadPlan(file, { cwd: deps.cwd, now });
    for (const w of loaded.warnings) out.warn(w);
    const { records, capabilities, providerName } = await readPlanRecords(loaded, deps.env);
    const result = planTimeline(loaded.plan, records, now, { capabilities, acceptRisk: opts.acceptRisk === true });
    if (!result.ok) {
      const details = [...result.problems];
      if (result.earliestSafeSwap) {
        details.push(
          `earliest safe swap: ${formatPlanTime(result.earliestSafeSwap)} (set schedule.swapAt to it or later, or pass --accept-risk)`,
        );
      }
      throw new UserError(`${loaded.file}: ${result.reason}`, { code: "E_PLAN_UNSAFE", details });
    }
    const t = result.timeline;
    for (const w of t.warnings) out.warn(w);
    for (const l of t.limits) out.warn(`${l}: \`cutover run\` will need --force`);
    out.data({
      ...timelineToJson(t),
      provider: providerName,
      planFile: loaded.file,
      warnings: [...loaded.warnings, ...t.warnings],
    });
    const { c } = out;
    const olds = [loaded.plan.old.ipv4, loaded.plan.old.ipv6].filter(Boolean).join(", ");
    const news = [loaded.plan.new.ipv4, loaded.plan.new.ipv6].filter(Boolean).join(", ");
    out.line(`${c.bold(t.name)}: ${olds} → ${news}  (${providerName}: ${loaded.plan.dns.zones.join(", ")})`);
    out.line(
      c.dim(
        `now ${formatUtc(now)}; swap at ${formatUtc(t.swapAt)}; ${count(t.targets.length, "record")} to move` +
          (t.siblings.length > 0
            ? `; ${t.siblings.map((r) => `${r.name} ${r.type} ${r.content}`).join(", ")} ${t.siblings.length === 1 ? "stays" : "stay"} in the same RRset (its TTL follows)`
            : ""),
      ),
    );
    out.line();
    // The second column: --tz, the plan's timezone, else the machine's TZ.
    const tz = timeZoneOption(opts.tz, loaded.plan.timezone) ?? deps.env.TZ;
    printTimeline(out, t, tz ? { timeZone: tz } : {});
    if (t.risk) {
      out.line();
      out.line(c.red(`RISK ACCEPTED: ${t.risk.reason}`));
    }
  });
}
