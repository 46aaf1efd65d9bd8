import { rm, writeFile } from "node:fs/promises";
import { renderMoveReport } from "../output/report.js";
import { localRelayDriver } from "../timeline/relay.js";
import type { Session } from "../timeline/session.js";
import type { Demo } from "./setup.js";

export interface Teardown {
  /** What was done, for the user. */
  lines: string[];
  /** What could not be done, each with what to do about it. */
  problems: string[];
  report: string | undefined;
}

/** Each part of the teardown is bounded: a part that hangs is reported and the rest still runs. */
async function bounded<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work(), limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Tears the demo down after a finished run, Ctrl-C or any failure: visitors, the relay (its redirect goes
 * with it), the report, the journal's lock, queued notifications, the web services and DNS server, the directory. Every part
 * runs even when an earlier one fails; what is said is what was checked (the relay is asked until it no
 * longer answers).
 */
export async function tearDownDemo(
  demo: Demo,
  o: {
    clients: { stop(): Promise<void> } | undefined;
    session: Session | undefined;
    keep: boolean;
    report: string;
    now: () => Date;
    /** The demo's own result, shown first in the report's headline. */
    headline?: () => string[];
    /** Delivers the notifications still queued (after the journal is closed). */
    flush?: () => Promise<unknown>;
  },
): Promise<Teardown> {
  const lines: string[] = [];
  const problems: string[] = [];
  let report: string | undefined;
  const step = async (what: string, ms: number, work: () => Promise<void>) => {
    try {
      await bounded(ms, what, work);
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  if (o.clients) await step("stopping the visitors", 10_000, () => o.clients!.stop());
  const session = o.session;
  let relayStopped = false;
  if (session) {
    const relay = localRelayDriver(session.store.dir);
    await step("stopping the relay", 15_000, async () => {
      if (!(await relay.status())) return;
      await relay.stop();
      while (await relay.status()) await new Promise((r) => setTimeout(r, 100));
      relayStopped = true;
    });
    await step("writing the report", 30_000, async () => {
      const events = await session.store.events();
      await writeFile(
        o.report,
        renderMoveReport(session.state, events, session.timeline, o.now(), { headline: o.headline?.() ?? [] }),
      );
      report = o.report;
    });
    await step("closing the journal", 10_000, () => session.close());
  }
  if (o.flush) await step("sending the last notifications", 15_000, async () => void (await o.flush!()));
  await step("stopping the web services and the DNS server", 10_000, () => demo.close());
  const services = problems.some((p) => p.startsWith("stopping the web")) ? "" : "the web services, the DNS server";
  const parts = [
    relayStopped ? `the relay (and its ${demo.handover === "redirect" ? "redirect" : "listener"})` : "",
    services,
  ];
  if (parts.some(Boolean)) lines.push(`stopped ${parts.filter(Boolean).join(", ")}`);
  if (o.keep) lines.push(`the plan and journal stay in ${demo.dir}`);
  else
    await step(`removing ${demo.dir}`, 10_000, async () => {
      await rm(demo.dir, { recursive: true, force: true });
      lines.push(`removed ${demo.dir}`);
    });
  if (report) lines.push(`report: ${report}`);
  return { lines, problems, report };
}
