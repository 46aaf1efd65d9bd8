import { resolve } from "node:path";
import { writeFile } from "node:fs/promises";
import type { Deps } from "../context.js";
import { checkOutputPath } from "../output/path.js";
import { createReporter } from "../output/reporter.js";
import { renderMoveReport } from "../output/report.js";
import { openSession } from "../timeline/session.js";
import { planFileOf } from "./_options.js";
import { timeZoneOption } from "../output/time.js";
import { defineCommand } from "./_define.js";

export function makeReportCommand(deps: Deps) {
  return defineCommand(
    {
      name: "report",
      description: "Write one self-contained HTML page of the whole move: timeline, DNS changes, propagation, relay",
      needs: "run",
      json: "print where the report was written as JSON",
      dryRun: "build the page and say where it would go and its size; write nothing",
      examples: [
        ["cutover report --out move.html"],
        ["cutover report --out move.html --tz America/New_York"],
        ["cutover report plans/colo.yaml --out /var/www/html/move.html"],
      ],
      exitCodes: {
        0: "the page is written",
        1: "a problem in the plan, no run to report on, or the page cannot be written",
      },
    },
    (c) =>
      c
        .option("--out <file>", "where to write the page", "cutover-report.html")
        .option(
          "--tz <zone>",
          "show times in this IANA zone, e.g. Europe/Berlin (default: the plan's timezone, else UTC)",
        ),
  ).action(async (file, opts) => {
    file = planFileOf(file, opts.plan);
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const now = deps.now();
    const path = resolve(deps.cwd, opts.out);
    await checkOutputPath("--out", path);
    const session = await openSession({ file, cwd: deps.cwd, env: deps.env, now, stateDir: opts.state });
    try {
      const events = await session.store.events();
      const timeZone = timeZoneOption(opts.tz, session.loaded.plan.timezone);
      const html = renderMoveReport(session.state, events, session.timeline, now, timeZone ? { timeZone } : {});
      const bytes = Buffer.byteLength(html);
      if (opts.dryRun) {
        out.data({ report: path, bytes, dryRun: true });
        out.line(`would write the report (${bytes} bytes) to ${path}; dry run, nothing written`);
        return;
      }
      await writeFile(path, html);
      out.data({ report: path, bytes });
      out.line(`report written to ${path}`);
    } finally {
      await session.close();
    }
  });
}
