/**
 * What a move of N records puts in front of Cloudflare's Workers limits: each text/JSON binding (5 KB each),
 * the number of bindings (64 on Workers Free), the modules and the whole upload (3 MB gzipped on Workers
 * Free), as `checkEdgeUpload` measures them. Records: per zone an apex A and AAAA, www, mail, the rest hostN, and one SPF TXT naming the old
 * address, spread over `--zones` zones. No network: the planning is pure.
 *
 *   npm run build && npx tsx bench/edge/sizes.ts [--records 1,10,100,500] [--zones 10]
 */
import { createCloudflareProvider } from "@cutover/dns/cloudflare";
import * as edge from "@cutover/edge";
import type { DnsRecord } from "@cutover/core";
import { discoverTargets, planLower, planRestore, planRollback, planSwap } from "@cutover/core";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const COUNTS = arg("records", "1,10,100,500").split(",").map(Number);
const ZONES = Number(arg("zones", "10"));
const MOVE = {
  old: { ipv4: "198.51.100.10", ipv6: "2001:db8::10" },
  new: { ipv4: "203.0.113.20", ipv6: "2001:db8:1::20" },
};

export function moveRecords(count: number, zones: number): DnsRecord[] {
  const records: DnsRecord[] = [];
  const zoneNames = Array.from({ length: Math.min(zones, count) }, (_, i) => `zone${i + 1}.example`);
  for (let i = 0; i < count; i++) {
    const zone = zoneNames[i % zoneNames.length]!;
    const k = Math.floor(i / zoneNames.length);
    const kinds = ["apex-a", "apex-aaaa", "www", "mail", "spf"];
    const kind = kinds[k] ?? "host";
    const base = { id: `rec${i}`.padEnd(32, "0"), zone, ttl: 3600, meta: { ttl: 3600 } };
    if (kind === "apex-a") records.push({ ...base, name: zone, type: "A", content: MOVE.old.ipv4 });
    else if (kind === "apex-aaaa") records.push({ ...base, name: zone, type: "AAAA", content: MOVE.old.ipv6 });
    else if (kind === "spf")
      records.push({ ...base, name: zone, type: "TXT", content: `v=spf1 ip4:${MOVE.old.ipv4} mx -all` });
    else
      records.push({
        ...base,
        name: kind === "host" ? `host${k}.${zone}` : `${kind}.${zone}`,
        type: "A",
        content: MOVE.old.ipv4,
      });
  }
  return records;
}

const caps = createCloudflareProvider({
  provider: "cloudflare",
  zones: ["zone1.example"],
  options: {},
  baseDir: "/",
  env: { CLOUDFLARE_API_TOKEN: "x" },
}).capabilities;

const code = await edge.readWorkerBundle();
const rows: string[] = [];
for (const n of COUNTS) {
  const records = moveRecords(n, ZONES);
  const { targets, spf } = discoverTargets(records, MOVE) as { targets: DnsRecord[]; spf?: DnsRecord[] };
  const now = Date.parse("2026-12-01T10:00:00Z");
  const at = (h: number) => new Date(now + h * 3_600_000);
  const d = edge.planEdgeDeployment({
    name: "bench",
    provider: "cloudflare",
    zones: [...new Set(records.map((r) => r.zone))],
    swapAt: at(26),
    steps: [
      { kind: "lower", at: at(1), summary: "lower", changes: planLower(targets, 300, caps) },
      { kind: "swap", at: at(26), summary: "swap", changes: planSwap(targets, MOVE, 300, caps) },
      { kind: "restore", at: at(50), summary: "restore", changes: planRestore(targets, MOVE, 300, caps) },
    ],
    rollback: planRollback(targets, MOVE, 300, caps),
    originals: [...targets, ...(spf ?? [])],
    now: new Date(now),
  });
  const { sizes, problems } = edge.checkEdgeUpload(d, code);
  rows.push(`${n} records (${targets.length} A/AAAA moved) on ${Math.min(ZONES, n)} zone(s):`);
  for (const l of edge.describeUploadSizes(sizes)) rows.push(`  ${l}`);
  rows.push(`  ${problems.length ? `refused: ${problems.join("; ")}` : "within every limit"}`);
}
for (const r of rows) console.log(r);
