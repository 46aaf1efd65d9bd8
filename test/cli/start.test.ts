import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBounded } from "@cutover/testkit";
import { expect, test } from "vitest";
import { CLI, ROOT } from "../_spawn.js";

// Fast start (bench/cli measures it): a command loads only what it needs. This records every module the
// built CLI resolves (a module hook, registered with --import) and checks that no command loads what it
// does not use. A provider, the edge or SSH imported at the top of a module that every command loads
// fails here, with the chain to look at.
const dir = mkdtempSync(join(tmpdir(), `cutover-start-${process.pid}-`));
const hook = join(dir, "hook.mjs");
writeFileSync(
  hook,
  `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(\`
import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.CUTOVER_MODULE_LOG, r.url + " <- " + (context.parentURL ?? "") + "\\\\n");
  return r;
}\`));
`,
);

/** Heavy dependencies only some commands need, by the path their files live under. */
const HEAVY = {
  cloudflare: "/node_modules/cloudflare/",
  linode: "/node_modules/@linode/",
  aws: "/node_modules/@aws-sdk/",
  ssh2: "/node_modules/ssh2/",
  edge: "/packages/edge/",
  zod: "/node_modules/zod/",
  yaml: "/node_modules/yaml/",
};

async function loaded(args: string[]): Promise<string[]> {
  const log = join(dir, `modules-${args.join("_").replace(/\W+/g, "-")}.log`);
  writeFileSync(log, "");
  const r = await runBounded(process.execPath, ["--import", hook, CLI, ...args], {
    timeoutMs: 60_000,
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1", CUTOVER_MODULE_LOG: log },
  });
  expect(r.code, `${args.join(" ")}\n${r.stderr}`).toBe(0);
  return readFileSync(log, "utf8").split("\n").filter(Boolean);
}

function heavyIn(lines: string[], keys: Array<keyof typeof HEAVY>): string[] {
  return lines.filter((l) => keys.some((k) => l.split(" <- ")[0]!.includes(HEAVY[k])));
}

test("--version and --help load no command, no provider, no SDK, no plan parser", async () => {
  for (const args of [["--version"], ["--help"]]) {
    const lines = await loaded(args);
    expect(lines.length).toBeGreaterThan(0); // the hook works
    expect(heavyIn(lines, Object.keys(HEAVY) as Array<keyof typeof HEAVY>), args.join(" ")).toEqual([]);
    expect(lines.filter((l) => /\/commands\/(?!index\.js)/.test(l.split(" <- ")[0]!))).toEqual([]);
  }
});

test("plan on a zone-file plan loads no cloud SDK, no SSH and no edge code", async () => {
  const lines = await loaded(["plan", "examples/colo-to-linode.yaml", "--now", "2027-11-29T10:00:00Z"]);
  expect(lines.some((l) => l.includes("/providers/zonefile.js"))).toBe(true);
  expect(heavyIn(lines, ["cloudflare", "linode", "aws", "ssh2", "edge"])).toEqual([]);
});
