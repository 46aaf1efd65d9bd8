/**
 * One propagation round: 18 resolvers × 3 queries × 50 names, against a local Unbound (started here, on
 * 18 loopback addresses) in front of `dns serve`, with the library's bounded concurrency, beside the same
 * round sent one query at a time. Target: under 1.5 s. Loopback only; stops what it starts by PID.
 *
 *   npm run build -w @cutover/dns && npx tsx bench/propagation/round.ts
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPropagationWatch, parseResolverList, queryDns, startAuthoritativeServer } from "@cutover/dns";
import { UNBOUND, unboundConfig } from "@cutover/testkit";

const RESOLVERS = 18;
const NAMES = 50;
const QUERIES = 3;
const RUNS = 3;

const dir = await mkdtemp(join(tmpdir(), "cutover-bench-prop-"));
const names = Array.from({ length: NAMES }, (_, i) => `host${i}.bench.test`);
await writeFile(
  join(dir, "bench.test.zone"),
  `$ORIGIN bench.test.\n$TTL 3600\n@ IN SOA ns.bench.test. h.bench.test. 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n` +
    names.map((n, i) => `${n}. IN A 203.0.113.${(i % 250) + 1}\n`).join(""),
);
const auth = await startAuthoritativeServer({
  zoneFiles: [join(dir, "bench.test.zone")],
  listen: "127.0.0.1:0",
  watch: false,
});
const port = 20000 + Math.floor(Math.random() * 20000);
const addrs = Array.from({ length: RESOLVERS }, (_, i) => `127.0.0.${i + 1}`);
await writeFile(
  join(dir, "unbound.conf"),
  unboundConfig({
    dir,
    interfaces: addrs.map((a) => `${a}@${port}`),
    port,
    threads: 2,
    reusePort: true,
    stubs: { "bench.test": [`127.0.0.1@${auth.port}`] },
  }),
);
const unbound = spawn(UNBOUND, ["-d", "-c", join(dir, "unbound.conf")], {
  stdio: ["ignore", "ignore", "ignore"],
});
try {
  const probe = parseResolverList([`127.0.0.1:${port}`])[0]!.server;
  for (let i = 0; i < 100 && !(await queryDns(probe, names[0]!, "A", { timeoutMs: 200, retries: 0 })).response; i++)
    await new Promise((r) => setTimeout(r, 50));
  const resolvers = parseResolverList(addrs.map((a) => `${a}:${port}`));
  const expect = names.map((_, i) => `203.0.113.${(i % 250) + 1}`);

  const round = async (concurrency: number) => {
    const watch = createPropagationWatch({
      names,
      expect,
      resolvers,
      authoritative: false,
      queriesPerResolver: QUERIES,
      concurrency,
    });
    const t0 = performance.now();
    const r = await watch.round();
    const ms = performance.now() - t0;
    const errors = r.targets.flatMap((t) => t.observations).filter((o) => o.status === "ERROR").length;
    return { ms, queries: r.queries, errors };
  };
  await round(64); // warm Unbound's cache: the benchmark measures the poller, not the authority
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results: Record<string, { ms: number; queries: number; errors: number }[]> = { concurrent: [], sequential: [] };
  for (let i = 0; i < RUNS; i++) {
    results.concurrent!.push(await round(64));
    results.sequential!.push(await round(1));
  }
  const c = median(results.concurrent!.map((r) => r.ms));
  const s = median(results.sequential!.map((r) => r.ms));
  const q = results.concurrent![0]!.queries;
  console.log(
    `propagation round: ${RESOLVERS} resolvers × ${QUERIES} queries × ${NAMES} names = ${q} queries, local Unbound (median of ${RUNS})`,
  );
  console.log(
    `  concurrent (64 in flight)  ${c.toFixed(0).padStart(6)} ms  ${(q / (c / 1000)).toFixed(0).padStart(6)} q/s  errors ${results.concurrent!.map((r) => r.errors).join("/")}`,
  );
  console.log(
    `  one query at a time        ${s.toFixed(0).padStart(6)} ms  ${(q / (s / 1000)).toFixed(0).padStart(6)} q/s  errors ${results.sequential!.map((r) => r.errors).join("/")}`,
  );
  console.log(
    `  speed-up ${(s / c).toFixed(1)}×; target < 1500 ms: ${c < 1500 ? "met" : "NOT met"} (${(c / 1500).toFixed(2)} of the target)`,
  );
} finally {
  if (unbound.pid !== undefined && unbound.exitCode === null) {
    const exited = new Promise((r) => unbound.once("exit", r));
    process.kill(unbound.pid, "SIGTERM");
    await exited;
  }
  await auth.close();
  await rm(dir, { recursive: true, force: true });
}
