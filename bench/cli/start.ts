/**
 * Start time of the `cutover` command as a user meets it: whole processes, each command run RUNS times in
 * one interleaved loop beside `node -e 0` (the yardstick), median wall time of each and its ratio to the
 * yardstick's median. Also peak RSS (median, from /usr/bin/time when present). Targets (issue 13):
 * --version and --help <= 2x, `plan` on a zone-file plan <= 4x, a Cloudflare `dns records` against a local
 * fake <= 6x. The fake is the stateful Cloudflare fake of @cutover/testkit/dns-fakes, served on loopback by this
 * process; no traffic leaves the machine.
 *
 *   npm run build && npx tsx bench/cli/start.ts [--runs 9] [--cli packages/cli/bin/cutover.js]
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { getResponse } from "msw";
import { CloudflareFake } from "@cutover/testkit/dns-fakes";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg("runs") ?? 9);
// The committed bin when there is one; the built entry point on code from before it existed.
const CLI =
  arg("cli") ??
  [join(ROOT, "packages/cli/bin/cutover.js"), join(ROOT, "packages/cli/dist/cli.js")].find((p) => existsSync(p))!;
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const TOKEN = "bench-token-0123456789abcdef";

// A local Cloudflare API: the tests' stateful fake, answered through msw's getResponse on a real socket.
const fake = new CloudflareFake({ baseUrl: "http://127.0.0.1/client/v4", tokens: { [TOKEN]: "write" } });
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = chunks.length > 0 && req.method !== "GET" && req.method !== "HEAD" ? Buffer.concat(chunks) : null;
  const request = new Request(`http://127.0.0.1${req.url}`, {
    method: req.method ?? "GET",
    headers: Object.entries(req.headers).flatMap(([k, v]) =>
      v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string]),
    ),
    body,
  });
  const response = (await getResponse(fake.handlers, request)) ?? new Response("no handler", { status: 404 });
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body) Readable.fromWeb(response.body as never).pipe(res);
  else res.end();
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as AddressInfo).port;
for (const zone of ["example.com", "example.org"]) {
  fake.addZone(zone);
  for (const name of ["@", "www", "mail", "shop", "api"]) {
    fake.addRecord(zone, { name, type: "A", content: "198.51.100.10", ttl: 3600 });
  }
  fake.addRecord(zone, { name: "@", type: "TXT", content: "v=spf1 ip4:198.51.100.10 -all" });
}

const dir = await mkdtemp(join(tmpdir(), `cutover-bench-cli-${process.pid}-`));
const cfPlan = join(dir, "cloudflare.yaml");
await writeFile(
  cfPlan,
  `name: bench
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns: { provider: cloudflare, zones: [example.com, example.org], lowTtl: 300 }
schedule: { swapAt: ${new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 19)}Z }
`,
);
const env = {
  ...process.env,
  NO_COLOR: "1",
  CLOUDFLARE_API_TOKEN: TOKEN,
  CLOUDFLARE_BASE_URL: `http://127.0.0.1:${port}/client/v4`,
};

interface Case {
  label: string;
  args: string[];
  target?: number;
}
const node: Case = { label: "node -e 0", args: ["-e", "0"] };
const cases: Case[] = [
  node,
  { label: "cutover --version", args: [CLI, "--version"], target: 2 },
  { label: "cutover --help", args: [CLI, "--help"], target: 2 },
  {
    label: "cutover plan (zone files)",
    args: [CLI, "plan", "examples/colo-to-linode.yaml", "--now", "2026-11-29T10:00:00Z"],
    target: 4,
  },
  { label: "cutover dns records (Cloudflare fake)", args: [CLI, "dns", "records", "--plan", cfPlan], target: 6 },
];

/** One whole process: wall ms and peak RSS in KiB (when /usr/bin/time is there). */
function once(c: Case): Promise<{ ms: number; rssKiB: number | undefined }> {
  const [cmd, args] = TIME ? [TIME, ["-f", "@@RSS %M", process.execPath, ...c.args]] : [process.execPath, c.args];
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) {
        reject(new Error(`${c.label}: exit ${code}\n${stdout}\n${stderr}`));
        return;
      }
      const rss = /@@RSS (\d+)/.exec(stderr);
      resolve({ ms, rssKiB: rss ? Number(rss[1]) : undefined });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const times = new Map<Case, number[]>(cases.map((c) => [c, []]));
const rss = new Map<Case, number[]>(cases.map((c) => [c, []]));
try {
  for (const c of cases) await once(c); // warm the page cache; not counted
  for (let i = 0; i < RUNS; i++) {
    for (const c of cases) {
      const r = await once(c);
      times.get(c)!.push(r.ms);
      if (r.rssKiB !== undefined) rss.get(c)!.push(r.rssKiB);
    }
  }
} finally {
  server.close();
  await rm(dir, { recursive: true, force: true });
}

const base = median(times.get(node)!);
console.log(`cli: ${CLI.slice(ROOT.length)}; ${RUNS} runs each, interleaved; node ${process.version}`);
console.log(`${"command".padEnd(40)} ${"median".padStart(9)} ${"ratio".padStart(7)} ${"target".padStart(7)}  peak RSS`);
for (const c of cases) {
  const m = median(times.get(c)!);
  const ratio = m / base;
  const r = rss.get(c)!;
  const verdict = c.target === undefined ? "" : ratio <= c.target ? " ok" : " MISSED";
  console.log(
    `${c.label.padEnd(40)} ${`${m.toFixed(0)} ms`.padStart(9)} ${`${ratio.toFixed(2)}x`.padStart(7)} ${
      c.target === undefined ? "".padStart(7) : `<=${c.target}x`.padStart(7)
    }  ${r.length ? `${(median(r) / 1024).toFixed(0)} MiB` : "-"}${verdict}`,
  );
}
