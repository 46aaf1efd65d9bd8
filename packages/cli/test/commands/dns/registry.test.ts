import { readFileSync } from "node:fs";
import { providerRegistry } from "@cutover/dns";
import { expect, test } from "vitest";
import { runCli } from "../../_run.js";

// The provider registry of @cutover/dns is the one list: `dns providers`, `init --provider`, the plan
// schema and docs/providers.md must name the same providers and the same token variables.

test("dns providers lists every registered provider with its token variables and traits", async () => {
  const r = await runCli(["dns", "providers", "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const rows = JSON.parse(r.stdout) as Array<{ name: string; tokens: string[]; edge: boolean; atomic: string }>;
  expect(rows.map((x) => x.name)).toEqual(providerRegistry.map((d) => d.name));
  expect(rows.find((x) => x.name === "linode")).toMatchObject({
    tokens: ["LINODE_TOKEN", "LINODE_CLI_TOKEN"],
    edge: true,
  });
  expect(rows.find((x) => x.name === "route53")).toMatchObject({ atomic: "compare-and-swap", edge: false });
  const plain = await runCli(["dns", "providers"], { env: { NO_COLOR: "1" } });
  expect(plain.stdout).toContain("cloudflare: Cloudflare DNS");
  expect(plain.stdout).toContain("(DIGITALOCEAN_ACCESS_TOKEN or DIGITALOCEAN_TOKEN)");
});

test("init offers exactly the registered providers", async () => {
  const r = await runCli(["init", "--provider", "gandi", "--dry-run"]);
  expect(r.code).toBe(2);
  for (const d of providerRegistry) expect(r.stderr).toContain(d.name);
});

test("docs/providers.md has a row for every provider, naming its first token variable", () => {
  const doc = readFileSync(new URL("../../../../../docs/providers.md", import.meta.url), "utf8");
  for (const d of providerRegistry) {
    const row = doc.split("\n").find((l) => l.startsWith(`| \`${d.name}\``));
    expect(row, d.name).toBeDefined();
    if (d.tokens[0] && d.name !== "route53") expect(row, d.name).toContain(`\`${d.tokens[0]}\``);
  }
});
