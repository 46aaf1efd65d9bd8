/**
 * The zero-downtime comparison: the same hosts (network namespaces), services, clients and timeline as the
 * e2e scenario (test/scenario), once with the socat procedure as migration scripts write it
 * (`nginx -s stop; socat TCP-LISTEN:80,fork TCP:NEW:80 &`, and the same for the MySQL socket) and once
 * with cutover (relay deployed over SSH and armed, redirect handover, graceful stops). Prints, side by
 * side, failed requests by kind, the outage window and the downloads intact. Runs alternate.
 *
 *   npm run build && sudo npx tsx bench/zero-downtime/compare.ts [--runs 1]      (root: namespaces)
 *
 * About 2 minutes per run (the TTL drop must land a 30 s TTL before the swap).
 */
import { runScenario, type Procedure, type ScenarioResult } from "../../test/scenario/_world.js";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("runs", 1);

interface Row {
  requests: number;
  fresh: string;
  keepAlive: string;
  stale: string;
  mysql: string;
  retried: number;
  outage: string;
  outageResolving: string;
  downloads: string;
  inFlight: string;
  run: string;
}

function summarize(r: ScenarioResult): Row {
  const failed = (kind: string) => [r.web, r.stale, r.mysql].flatMap((l) => l.failures).filter((f) => f.kind === kind);
  const okOf = (n: number | undefined) => n ?? 0;
  const cell = (kind: string, ok: number) => {
    const f = failed(kind).length;
    return `${f} of ${ok + f}`;
  };
  const all = [r.web, r.stale, r.mysql].flatMap((l) => l.failures).filter((f) => f.kind !== "download");
  // From the first failure to the last; "never ends" when clients still failed in the load's last 2 s.
  const window = (fs: typeof all) => {
    if (fs.length === 0) return "none";
    const first = Math.min(...fs.map((f) => f.at));
    const last = Math.max(...fs.map((f) => f.at));
    return r.loadEnd - last < 2000
      ? `never ends (T${sign(first - r.swapAt)}s to the end)`
      : `${((last - first) / 1000).toFixed(2)} s (T${sign(first - r.swapAt)}s to T${sign(last - r.swapAt)}s)`;
  };
  const outage = window(all);
  const outageResolving = window(all.filter((f) => f.kind === "fresh" || f.kind === "keepAlive"));
  const d = r.web.downloads;
  const flying = d.filter((x) => x.start < r.handoverAt && x.end > r.handoverAt);
  const requests =
    Object.values(r.web.ok).reduce((a, b) => a + b, 0) +
    Object.values(r.stale.ok).reduce((a, b) => a + b, 0) +
    okOf(r.mysql.ok.mysql) +
    all.length;
  return {
    requests,
    fresh: cell("fresh", okOf(r.web.ok.fresh)),
    keepAlive: cell("keepAlive", okOf(r.web.ok.keepAlive)),
    stale: cell("stale", okOf(r.stale.ok.fresh)),
    mysql: cell("mysql", okOf(r.mysql.ok.mysql)),
    retried: r.web.retried,
    outage,
    outageResolving,
    downloads: `${d.filter((x) => x.intact).length}/${d.length}`,
    inFlight: `${flying.filter((x) => x.intact).length}/${flying.length}`,
    run: `exit ${r.run.code}`,
  };
}

function sign(ms: number): string {
  const s = (ms / 1000).toFixed(1);
  return ms >= 0 ? `+${s}` : s;
}

const results: Record<Procedure, Row[]> = { socat: [], cutover: [] };
for (let i = 0; i < RUNS; i++)
  for (const procedure of ["socat", "cutover"] as const) {
    process.stderr.write(`run ${i + 1}/${RUNS}: ${procedure} ...\n`);
    const r = await runScenario({ procedure });
    results[procedure].push(summarize(r));
    const errors = [
      ...new Set([r.web, r.stale, r.mysql].flatMap((l) => l.failures).map((f) => `${f.kind}: ${f.error}`)),
    ];
    process.stderr.write(
      `  ${JSON.stringify(results[procedure].at(-1))}\n  errors: ${errors.slice(0, 8).join(" | ") || "none"}\n`,
    );
    if (r.run.code !== 0)
      process.stderr.write(
        `  cutover run exit ${r.run.code}: ${r.run.stderr.trim()}\n  ${r.run.stdout.trim().split("\n").slice(-6).join("\n  ")}\n`,
      );
    const socatLog = r.log.find((l) => l.includes("socat's errors"));
    if (socatLog) process.stderr.write(`  ${socatLog}\n`);
  }

const labels: Array<[keyof Row, string]> = [
  ["requests", "requests (HTTP + MySQL sessions)"],
  ["fresh", "failed: fresh-connection HTTP (resolving)"],
  ["keepAlive", "failed: keep-alive HTTP"],
  ["stale", "failed: stale clients (old address)"],
  ["mysql", "failed: MySQL sessions (unix socket)"],
  ["retried", "keep-alive requests retried once"],
  ["outageResolving", "outage window, clients that resolve"],
  ["outage", "outage window, all clients"],
  ["downloads", "downloads intact (all)"],
  ["inFlight", "downloads in flight at the handover intact"],
  ["run", "cutover run"],
];
const w = Math.max(...labels.map(([, l]) => l.length));
const col = (rows: Row[], k: keyof Row) => rows.map((r) => String(r[k])).join("; ");
const wSocat = Math.max(6, ...labels.map(([k]) => col(results.socat, k).length));
console.log(
  `\nzero-downtime comparison: ${RUNS} run(s) each, same namespaces, services, clients and timeline (runs separated by ";")\n`,
);
console.log(`${"".padEnd(w)}  ${"socat procedure".padEnd(wSocat)}  cutover`);
for (const [k, label] of labels)
  console.log(`${label.padEnd(w)}  ${col(results.socat, k).padEnd(wSocat)}  ${col(results.cutover, k)}`);
