import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { resolve } from "node:path";
import type { Deps } from "../context.js";
import { ExitCode } from "../errors.js";
import { setupDemo } from "../demo/setup.js";
import { startClients } from "../demo/services.js";
import { createReporter } from "../output/reporter.js";
import { defaultExecutors } from "../timeline/executors.js";
import { openSession, type Session } from "../timeline/session.js";
import { checkOutputPath } from "../output/path.js";
import { formatAt } from "../output/time.js";
import { tearDownDemo } from "../demo/teardown.js";
import { runForeground, STOP_SIGNALS } from "./run.js";
import { FLUSH_MS, notifierForSession } from "../notify/session.js";
import { parseNotifyUrl } from "../notify/notifier.js";
import { defineCommand } from "./_define.js";

async function hasNft(): Promise<boolean> {
  try {
    await promisify(execFile)("nft", ["--version"]);
    return true;
  } catch {
    return false;
  }
}

export function makeDemoCommand(deps: Deps) {
  return defineCommand(
    {
      name: "demo",
      description:
        "Run a whole move on loopback, offline, in about a minute: TTL drop, handover, swap, propagation, drain, restore",
      needs: "nothing",
      json: "print events and the summary as JSON lines",
      examples: [
        ["cutover demo"],
        ["cutover demo --out /tmp/move.html --keep"],
        ["cutover demo --notify http://127.0.0.1:8080/hook"],
      ],
      notes: `What happens: a zone example.test is served on 127.0.0.1; www.example.test points at the "old" web
service on 127.0.0.2; a "new" one runs on 127.0.0.3. Visitors resolve the name and fetch the page all
along, one of them with a stale cache. cutover lowers the TTL (20 s → 2 s), takes the old address with its
relay at the swap, swaps the record, watches it propagate, drains the relay when the stale visitor is
gone, restores the TTL and writes the report. Nothing leaves this machine.`,
      exitCodes: {
        0: "the move finished and the report is written",
        1: "a step of the move failed, or the loopback addresses or tools it needs are missing",
        130: "stopped with Ctrl-C (what it started is cleaned up)",
      },
    },
    (c) =>
      c
        .option("--out <file>", "where to write the report", "cutover-demo-report.html")
        .option("--keep", "keep the demo's directory (plan, zone file, journal) instead of removing it")
        .option(
          "--notify <url>",
          "POST the move's events (step started, done, failed, clients, finished) to this webhook",
        ),
  ).action(async (opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    if (opts.notify !== undefined) parseNotifyUrl(opts.notify); // a bad URL is refused before anything starts
    const path = resolve(deps.cwd, opts.out);
    await checkOutputPath("--out", path); // before a minute of work, not after it
    // redirect (nftables, as root): no connection is refused at the handover; else rebind, whose short gap
    // between the old service's listener closing and the relay's bind is measured and shown.
    const canRedirect = process.getuid?.() === 0 && (await hasNft());
    const mode = canRedirect ? "redirect" : "rebind";
    if (mode === "rebind")
      out.line(
        "handover rebind (redirect needs root and nftables): new connections that arrive in the few ms between the old service closing its port and the relay binding it are refused, unless nftables/iptables can hold them",
      );
    // On a terminal the demo's own lines go through the run's live view too (wrapped at the width, above it).
    const view = out.tty && !out.json ? (await import("../output/live.js")).createLiveView(deps.stdout) : undefined;
    out.useLiveView(view);
    const demo = await setupDemo(deps.now(), mode);
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    for (const sig of STOP_SIGNALS) process.once(sig, onSigint);
    let stopped = false;
    let clients: ReturnType<typeof startClients> | undefined;
    let session: Session | undefined;
    let notifier: Awaited<ReturnType<typeof notifierForSession>> | undefined;
    const tallyLine = () => {
      const t = clients?.tally;
      return t
        ? `visitors: ${t.ok} pages served, ${t.failed} failed (old host ${t.byHost.old ?? 0}, new host ${t.byHost.new ?? 0}, relayed ${t.relayed})`
        : "visitors: none started";
    };
    try {
      out.line(out.c.bold("cutover demo: moving www.example.test from 127.0.0.2 (old) to 127.0.0.3 (new) on loopback"));
      out.line(
        out.c.dim(
          `plan and journal in ${demo.dir}; the swap is at ${formatAt(demo.swapAt, undefined, { seconds: true })}`,
        ),
      );
      clients = startClients({
        dns: demo.dns.address,
        name: "www.example.test",
        port: demo.port,
        oldAddress: "127.0.0.2",
        visitors: 4,
        staleUntil: () => demo.swapAt.getTime() + 8000,
      });
      session = await openSession({
        file: demo.planPath,
        cwd: demo.dir,
        env: deps.env,
        now: deps.now(),
        lockFor: "demo",
        create: true,
      });
      notifier = await notifierForSession(session, {
        runner: "demo",
        env: deps.env,
        flagUrl: opts.notify,
        out,
        ...(deps.hooks?.notify ? { deliver: deps.hooks.notify } : {}),
      });
      // The relay stops the old web service itself at the handover, with the plan's stop command.
      await runForeground(session, deps, out, {
        executors: defaultExecutors(deps.env),
        signal: deps.hooks?.signal ?? abort.signal,
        extraLines: () => [tallyLine()],
        ...(notifier ? { notifier } : {}),
        stoppedLine: "stopped; tearing the demo down",
        ...(view ? { view } : {}),
      });
    } catch (error) {
      if (error instanceof ExitCode) stopped = true;
      else throw error;
    } finally {
      for (const sig of STOP_SIGNALS) process.removeListener(sig, onSigint);
      const torn = await tearDownDemo(demo, {
        clients,
        session,
        keep: opts.keep === true,
        report: path,
        now: deps.now,
        headline: () =>
          clients
            ? [
                `${clients.tally.ok} pages served, ${clients.tally.failed} failed (through the relay ${clients.tally.relayed})`,
              ]
            : [],
        ...(notifier ? { flush: () => notifier!.flush(FLUSH_MS) } : {}),
      });
      out.line();
      if (clients) out.line(tallyLine());
      if (clients && clients.tally.failed > 0) out.line(out.c.yellow(`  last failure: ${clients.tally.lastError}`));
      for (const l of torn.lines) out.line(l);
      for (const p of torn.problems) out.warn(p);
      out.data({ report: torn.report, visitors: clients?.tally, stopped, teardown: torn });
      out.useLiveView(undefined);
    }
    if (stopped) throw new ExitCode(130);
  });
}
