import { Command } from "@commander-js/extra-typings";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Deps } from "../context.js";
import { ExitCode } from "../errors.js";
import { setupDemo } from "../demo/setup.js";
import { startClients } from "../demo/services.js";
import { createReporter } from "../output/reporter.js";
import { renderMoveReport } from "../output/report.js";
import { defaultExecutors } from "../timeline/executors.js";
import { openSession } from "../timeline/session.js";
import { runForeground, STOP_SIGNALS } from "./run.js";
import { FLUSH_MS, notifierForSession } from "../notify/session.js";
import { parseNotifyUrl } from "../notify/notifier.js";

async function hasNft(): Promise<boolean> {
  try {
    await promisify(execFile)("nft", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

export function makeDemoCommand(deps: Deps) {
  return new Command("demo")
    .description(
      "Run a whole move on loopback, offline, in about a minute: TTL drop, handover, swap, propagation, drain, restore",
    )
    .option("--out <file>", "where to write the report", "cutover-demo-report.html")
    .option("--keep", "keep the demo's directory (plan, zone file, journal) instead of removing it")
    .option("--json", "print events and the summary as JSON lines")
    .option("--notify <url>", "POST the move's events (step started, done, failed, clients, finished) to this webhook")
    .addHelpText(
      "after",
      `
Examples:
  $ cutover demo
  $ cutover demo --notify http://127.0.0.1:8080/hook
  $ cutover demo --out /tmp/move.html --keep

What happens: a zone example.test is served on 127.0.0.1; www.example.test points at the "old" web
service on 127.0.0.2; a "new" one runs on 127.0.0.3. Visitors resolve the name and fetch the page all
along, one of them with a stale cache. cutover lowers the TTL (20 s → 2 s), takes the old address with its
relay at the swap, swaps the record, watches it propagate, drains the relay when the stale visitor is
gone, restores the TTL and writes the report. Nothing leaves this machine.`,
    )
    .action(async (opts) => {
      const out = createReporter(deps, { json: opts.json === true, env: deps.env });
      if (opts.notify !== undefined) parseNotifyUrl(opts.notify); // a bad URL is refused before anything starts
      // redirect (nftables, as root): no connection is refused at the handover; else rebind, whose short gap
      // between the old service's listener closing and the relay's bind is measured and shown.
      const canRedirect = process.getuid?.() === 0 && (await hasNft());
      const mode = canRedirect ? "redirect" : "rebind";
      const demo = await setupDemo(deps.now(), mode);
      out.line(out.c.bold("cutover demo: moving www.example.test from 127.0.0.2 (old) to 127.0.0.3 (new) on loopback"));
      out.line(out.c.dim(`plan and journal in ${demo.dir}; the swap is at ${demo.swapAt.toISOString()}`));
      const clients = startClients({
        dns: demo.dns.address,
        name: "www.example.test",
        port: demo.port,
        oldAddress: "127.0.0.2",
        visitors: 4,
        staleUntil: () => demo.swapAt.getTime() + 8000,
      });
      // The relay stops the old web service itself at the handover, with the plan's stop command.
      const executors = defaultExecutors(deps.env);
      const session = await openSession({
        file: demo.planPath,
        cwd: demo.dir,
        env: deps.env,
        now: deps.now(),
        lockFor: "demo",
        create: true,
      });
      const notifier = await notifierForSession(session, {
        runner: "demo",
        env: deps.env,
        flagUrl: opts.notify,
        out,
        ...(deps.hooks?.notify ? { deliver: deps.hooks.notify } : {}),
      }).catch(async (error: unknown) => {
        await session.close();
        await notifier?.flush(FLUSH_MS);
        await demo.close();
        await clients.stop();
        throw error;
      });
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      for (const sig of STOP_SIGNALS) process.once(sig, onSigint);
      const t = clients.tally;
      const tallyLine = () =>
        `visitors: ${t.ok} pages served (old host ${t.byHost.old ?? 0}, new host ${t.byHost.new ?? 0}, through the relay ${t.relayed}), ${t.failed} failed`;
      let stopped = false;
      try {
        await runForeground(session, deps, out, {
          executors,
          signal: deps.hooks?.signal ?? abort.signal,
          extraLines: () => [tallyLine()],
          ...(notifier ? { notifier } : {}),
          stoppedLine: opts.keep
            ? `stopped; the plan and journal stay in ${demo.dir}`
            : "stopped; the demo's services are stopped and its directory removed",
        });
      } catch (error) {
        if (error instanceof ExitCode) stopped = true;
        else throw error;
      } finally {
        for (const sig of STOP_SIGNALS) process.removeListener(sig, onSigint);
        await clients.stop();
        const events = await session.store.events();
        const html = renderMoveReport(session.state, events, session.timeline, deps.now(), {
          headline: [`${t.ok} pages served, ${t.failed} failed (through the relay ${t.relayed})`],
        });
        const path = resolve(deps.cwd, opts.out);
        await writeFile(path, html);
        await session.close();
        await notifier?.flush(FLUSH_MS);
        await demo.close();
        if (!opts.keep) await rm(demo.dir, { recursive: true, force: true });
        out.line();
        out.line(tallyLine());
        if (t.failed > 0) out.line(out.c.yellow(`  last failure: ${t.lastError}`));
        out.line(`report: ${path}`);
        out.data({ report: path, visitors: t, stopped });
      }
      if (stopped) throw new ExitCode(130);
    });
}
