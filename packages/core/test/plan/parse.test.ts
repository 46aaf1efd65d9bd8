import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { parsePlan, PlanError, type OptionKinds, type PlanProvider } from "../../src/plan/index.js";

// Core's parser names no provider: the `dns:` part and its checks come from the definitions passed in
// (the CLI passes @cutover/dns's registry). Two made-up providers show both halves.
const filesOptions = ({ z, ...k }: OptionKinds) => ({ files: z.record(k.hostname, k.filePath) });
const filesProvider: PlanProvider<"files", typeof filesOptions> = {
  name: "files",
  options: filesOptions,
  checkPlan(dns, check) {
    for (const zone of dns.zones) if (!Object.hasOwn(dns.files, zone)) check.problem(["files"], `no file for ${zone}`);
    check.warning("files: a warning from the provider");
    for (const [zone, file] of Object.entries(dns.files)) check.file(["files", zone], file);
  },
};
const apiProvider: PlanProvider = { name: "api", options: ({ z }) => ({ endpoint: z.string().optional() }) };
const providers = [filesProvider, apiProvider] as const;

const dir = mkdtempSync(join(tmpdir(), `cutover-core-plan-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const plan = (dns: string) => `name: demo
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns:
${dns}
schedule:
  swapAt: 2027-12-01T14:00:00Z
`;
const NOW = new Date("2027-11-29T10:00:00Z");

function problems(text: string, baseDir?: string): string[] {
  try {
    parsePlan(text, { providers, file: "p.yaml", now: NOW, ...(baseDir ? { baseDir } : {}) });
  } catch (error) {
    if (error instanceof PlanError) return [...error.details];
    throw error;
  }
  return [];
}

test("the dns: part is the providers' own: their names, their options, their checks", () => {
  expect(problems(plan("  provider: nope\n  zones: [example.com]"))).toEqual([
    'p.yaml:5:13 dns.provider: dns.provider must be one of "files" or "api"',
  ]);
  expect(problems(plan("  provider: api\n  zones: [example.com]\n  files: {}"))).toEqual([
    'p.yaml:7:3 dns.files: unknown key "files"; only for dns.provider files',
  ]);
  expect(problems(plan("  provider: files\n  zones: [example.com]\n  files: {}"))).toEqual([
    "p.yaml:7:10 dns.files: no file for example.com",
  ]);
  const ok = parsePlan(plan("  provider: files\n  zones: [example.com]\n  files: { example.com: a.zone }"), {
    providers,
    file: "p.yaml",
    now: NOW,
  });
  expect(ok.warnings).toEqual(["files: a warning from the provider"]);
});

test("a file a provider names is checked to be a regular file when the plan comes from a directory", () => {
  mkdirSync(join(dir, "a.zone"));
  const text = plan("  provider: files\n  zones: [example.com]\n  files: { example.com: a.zone }");
  expect(problems(text)).toEqual([]);
  expect(problems(text, dir)).toEqual(["p.yaml:7:25 dns.files.example.com: a.zone is a directory, not a regular file"]);
});
