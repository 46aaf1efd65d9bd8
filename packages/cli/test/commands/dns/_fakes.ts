import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The stateful DNS API fakes are @cutover/testkit's (`@cutover/testkit/dns-fakes`); these are the CLI tests' helpers. */
export const CF_TOKEN = "cf-test-token-0123456789";
export const LI_TOKEN = "linode-test-token-abcdef0123";

/**
 * A plan directory moving 198.51.100.10 → 203.0.113.20 (and 2001:db8::10 → ::20) with the given dns section.
 * No authoritative server serves these zones (the API fakes have none): the read-back from them is off.
 */
export function writePlan(dns: string, extraNew = ""): string {
  const dir = mkdtempSync(join(tmpdir(), "cutover-dns-cmd-"));
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: dns-test
old: { ipv4: 198.51.100.10, ipv6: "2001:db8::10" }
new: { ipv4: 203.0.113.20, ipv6: "2001:db8::20"${extraNew} }
dns:
${dns
  .trim()
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
schedule:
  swapAt: 2036-12-01T14:00:00Z
propagation:
  authoritative: false
`,
  );
  return dir;
}
