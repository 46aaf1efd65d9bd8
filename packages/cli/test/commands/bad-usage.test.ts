import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../_run.js";

// Every command with bad arguments and bad environments: one clear message, no stack trace, the
// documented exit code (2 bad usage or an error, 1 a step failed or a problem in the plan), never 70.
const dir = mkdtempSync(join(tmpdir(), `cutover-bad-${process.pid}-`));
const cfPlan = join(dir, "cf.yaml");
const future = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 19);
writeFileSync(
  cfPlan,
  `name: bad
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns: { provider: cloudflare, zones: [example.com] }
schedule: { swapAt: ${future}Z }
`,
);
const EXAMPLE = join(__dirname, "../../../../examples/colo-to-linode.yaml");
const NOWHERE = "/nonexistent-cutover-dir/x.html";
const MISSING = join(dir, "missing.yaml");

type Case = [args: string[], code: number | "1|2", env?: Record<string, string>];
const cases: Case[] = [
  [["nosuch"], 2],
  [["plan", "--nosuch"], 2],
  [["plan", EXAMPLE, "--now", "tomorrow"], 2],
  [["plan", MISSING], "1|2"],
  [["plan", "/dev/null"], 1],
  [["init", "/nonexistent-cutover-dir/cutover.yaml"], "1|2"],
  [["run", MISSING], "1|2"],
  [["run", EXAMPLE, "--bogus"], 2],
  [["tick", MISSING], "1|2"],
  [["schedule", EXAMPLE, "--with", "nosuch"], 2],
  [["status", MISSING], "1|2"],
  [["rollback", MISSING], "1|2"],
  [["report", EXAMPLE, "--out", NOWHERE], 2],
  [["report", EXAMPLE, "--out", tmpdir()], 2],
  [["demo", "--out", NOWHERE], 2],
  [["dns"], "1|2"],
  [["dns", "records", "--plan", MISSING], "1|2"],
  [["dns", "records", "--plan", cfPlan], 1, { CLOUDFLARE_API_TOKEN: "" }],
  [
    ["dns", "swap", "--plan", cfPlan, "--dry-run"],
    1,
    { CLOUDFLARE_API_TOKEN: "x".repeat(40), CLOUDFLARE_BASE_URL: "http://127.0.0.1:1/client/v4" },
  ],
  [["dns", "restore", "--plan", cfPlan, "--ttl", "soon"], 2],
  [["dns", "serve", join(dir, "missing.zone")], "1|2"],
  [["propagation", "example.com", "--expect", "not-an-ip"], 2],
  [["propagation", "example.com"], 2],
  [["propagation", "example.com", "--expect", "203.0.113.20", "--report", NOWHERE], 2],
  [["propagation", "example.com", "--expect", "203.0.113.20", "--timeout", "forever"], 2],
  [["relay"], "1|2"],
  [["relay", "start", "--nosuch"], 2],
  [["relay", "status", "--limit", "many"], 2],
  [["relay", "stop", "--drain", "later"], 2],
  [["relay", "logs", "--lines", "0"], 2],
  [["relay", "script", "--plan", MISSING], "1|2"],
  [["relay", "deploy", "--plan", MISSING], "1|2"],
];

describe("a user's mistake never looks like a crash", () => {
  for (const [args, code, env] of cases) {
    it(`cutover ${args.join(" ")}${env ? ` (${Object.keys(env).join(", ")})` : ""}`, async () => {
      const r = await runCli(args, { cwd: dir, ...(env ? { env } : {}) });
      const what = `exit ${r.code}\n${r.stderr}${r.stdout}`;
      expect(r.stderr + r.stdout, what).not.toMatch(/\n\s+at .+[(:]\d+/);
      expect(r.stderr, what).not.toContain("this is a bug");
      if (code === "1|2") expect([1, 2], what).toContain(r.code);
      else expect(r.code, what).toBe(code);
      expect(r.stderr.trim().length, what).toBeGreaterThan(0);
    });
  }
});
