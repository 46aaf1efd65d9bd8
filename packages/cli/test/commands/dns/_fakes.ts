import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The stateful Cloudflare and Linode fakes live in @cutover/dns's tests (one fake for both packages). A
 * computed path keeps those files out of this package's typecheck; these are the parts the CLI tests use.
 */
interface Logged {
  method: string;
  path: string;
  body: unknown;
  authorization: string | null;
}
type Fault = { kind: "status"; status: number; retryAfter?: number } | { kind: "network" } | { kind: "lost" };
interface FakeCommon {
  baseUrl: string;
  log: Logged[];
  handlers: unknown[];
  switches: { latencyMs: number; faults: ((r: Logged) => Fault | undefined) | undefined };
  writes(): Logged[];
}
export interface CfFake extends FakeCommon {
  tokens: Record<string, "read" | "write">;
  addZone(name: string): { id: string };
  addRecord(
    zone: string,
    r: { name: string; type: string; content: string; ttl?: number; proxied?: boolean },
  ): { id: string };
  find(zone: string, name: string, type: string): Array<{ id: string; content: string; ttl: number; proxied: boolean }>;
  list(zone: string): Array<{ id: string; name: string; type: string; content: string; ttl: number }>;
}
export interface LiFake extends FakeCommon {
  tokens: string[];
  ips: Map<string, { rdns: string | null }>;
  addDomain(domain: string, ttl?: number): { id: number };
  addRecord(domain: string, r: { name: string; type: string; target: string; ttl_sec?: number }): { id: number };
  addIp(address: string): unknown;
  find(domain: string, name: string, type: string): Array<{ id: number; target: string; ttl_sec: number }>;
}

export async function loadFakes(): Promise<{
  CloudflareFake: new (o?: { baseUrl?: string }) => CfFake;
  LinodeFake: new (o?: { baseUrl?: string }) => LiFake;
  startFakeServer: (...handlers: unknown[]) => {
    close(): void;
    resetHandlers(...h: unknown[]): void;
    use(...h: unknown[]): void;
  };
}> {
  const path = new URL("../../../../dns/test/fakes/index.ts", import.meta.url).pathname;
  return (await import(path)) as never;
}

export const CF_TOKEN = "cf-test-token-0123456789";
export const LI_TOKEN = "linode-test-token-abcdef0123";

/** A plan directory moving 198.51.100.10 → 203.0.113.20 (and 2001:db8::10 → ::20) with the given dns section. */
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
`,
  );
  return dir;
}
