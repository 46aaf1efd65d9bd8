/**
 * Swap 1000 A records on each provider's fake (Cloudflare, Linode, PowerDNS, Route 53, DigitalOcean, Hetzner),
 * every API call delayed 100 ms (msw in process; no traffic leaves it), each fake enforcing its provider's
 * published rate limit in real time. Prints API calls, wall time and skew (first to last write answered)
 * beside the yardstick a migration script would be: one request per record, one at a time.
 * Targets: Cloudflare in at most 5 calls with skew under one call; Linode, DigitalOcean and Hetzner as fast as
 * their rate limits allow with bounded concurrency; PowerDNS and Route 53 in one write per zone (Route 53:
 * per 1,000 values) plus GetChange until INSYNC. DigitalOcean's 250 requests per minute make its run take
 * about 4 minutes; `--only cloudflare,route53` picks providers.
 *
 *   npm run build -w @cutover/dns && npx tsx bench/dns/swap.ts [--records 1000] [--latency 100] [--only a,b]
 */
import {
  applyChangeSet,
  createDigitalOceanProvider,
  createHetznerProvider,
  createPowerDnsProvider,
  createRoute53Provider,
  type DnsProvider,
} from "@cutover/dns";
import { createCloudflareProvider } from "@cutover/dns/cloudflare";
import { createLinodeProvider } from "@cutover/dns/linode";
import {
  CloudflareFake,
  DigitalOceanFake,
  HetznerFake,
  LinodeFake,
  PowerDnsFake,
  Route53Fake,
  startFakeServer,
  type LoggedRequest,
} from "@cutover/testkit/dns-fakes";
import { discoverTargets, planSwap } from "@cutover/core";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RECORDS = arg("records", 1000);
const onlyAt = process.argv.indexOf("--only");
const ONLY = onlyAt > 0 ? new Set(process.argv[onlyAt + 1]!.split(",")) : undefined;
const wanted = (provider: string) => !ONLY || ONLY.has(provider);
const LATENCY = arg("latency", 100);
const CF_TOKEN = "cf-test-token-0123456789";
const LI_TOKEN = "linode-test-token-abcdef0123";
const move = { old: { ipv4: "198.51.100.10" }, new: { ipv4: "203.0.113.20" } };
const server = startFakeServer();

interface Row {
  provider: string;
  method: string;
  calls: number;
  writes: number;
  wallMs: number;
  skewMs: number;
  complete: boolean;
}

function measure(log: LoggedRequest[], from: number, start: number, complete: boolean) {
  const during = log.slice(from);
  const writes = during.filter((r) => r.method !== "GET");
  const done = writes.map((r) => r.doneAt ?? r.at);
  return {
    calls: during.length,
    writes: writes.length,
    wallMs: performance.now() - start,
    skewMs: done.length > 0 ? Math.max(...done) - Math.min(...done) : 0,
    complete,
  };
}

let n = 0;
function cloudflareFake(): CloudflareFake {
  const fake = new CloudflareFake({ baseUrl: `https://bench${++n}.cf.test/client/v4`, maxBatch: 3500 });
  server.resetHandlers(...fake.handlers);
  fake.addZone("example.com");
  for (let i = 0; i < RECORDS; i++)
    fake.addRecord("example.com", { name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 });
  fake.switches.latencyMs = LATENCY;
  fake.now = () => performance.now();
  return fake;
}

function linodeFake(): LinodeFake {
  const fake = new LinodeFake({ baseUrl: `https://bench${++n}.linode.test/v4` });
  server.resetHandlers(...fake.handlers);
  fake.addDomain("example.com");
  for (let i = 0; i < RECORDS; i++)
    fake.addRecord("example.com", { name: `h${i}`, type: "A", target: "198.51.100.10", ttl_sec: 300 });
  fake.switches.latencyMs = LATENCY;
  fake.now = () => performance.now();
  return fake;
}

async function swapWith(provider: DnsProvider, log: LoggedRequest[]) {
  // Planning reads the zone first (as `cutover dns swap` does); the measured part is the swap itself:
  // applyChangeSet's read, the writes and the read-back.
  const targets = discoverTargets(await provider.listRecords("example.com"), move).targets;
  const set = planSwap(targets, move, 300, provider.capabilities);
  const from = log.length;
  const start = performance.now();
  const report = await applyChangeSet(provider, set);
  await provider.close?.();
  return measure(log, from, start, report.complete);
}

const rows: Row[] = [];

if (wanted("cloudflare")) {
  // Yardstick: a script PATCHing each record in turn.
  const fake = cloudflareFake();
  const zone = fake.zoneByName("example.com");
  const ids = fake.list("example.com").map((r) => r.id);
  const from = fake.log.length;
  const start = performance.now();
  for (const id of ids) {
    const res = await fetch(`${fake.baseUrl}/zones/${zone.id}/dns_records/${id}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${CF_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ content: "203.0.113.20" }),
    });
    await res.arrayBuffer();
  }
  rows.push({
    provider: "cloudflare",
    method: "yardstick: one PATCH per record, in turn",
    ...measure(fake.log, from, start, true),
  });
}
for (const batchSize of wanted("cloudflare") ? [200, 1000] : []) {
  const fake = cloudflareFake();
  const provider = createCloudflareProvider({
    provider: "cloudflare",
    zones: ["example.com"],
    apiUrl: fake.baseUrl,
    batchSize,
    options: {},
    baseDir: "/",
    env: { CLOUDFLARE_API_TOKEN: CF_TOKEN },
  });
  const plan = batchSize === 200 ? "Free plan" : "paid plans take 3500";
  rows.push({
    provider: "cloudflare",
    method: `cutover: batches of ${batchSize} (${plan})`,
    ...(await swapWith(provider, fake.log)),
  });
}
for (const concurrency of wanted("linode") ? [1, 8, 16, 32] : []) {
  const fake = linodeFake();
  const provider = createLinodeProvider({
    provider: "linode",
    zones: ["example.com"],
    apiUrl: fake.baseUrl,
    options: { concurrency },
    baseDir: "/",
    env: { LINODE_TOKEN: LI_TOKEN },
  });
  const method =
    concurrency === 1 ? "yardstick: one PUT per record, in turn" : `cutover: ${concurrency} PUTs in flight`;
  rows.push({ provider: "linode", method, ...(await swapWith(provider, fake.log)) });
}
const seeded = <T extends { switches: { latencyMs: number }; now: () => number }>(fake: T): T => {
  fake.switches.latencyMs = LATENCY;
  fake.now = () => performance.now();
  return fake;
};
const h = (i: number) => ({ name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 300 });

if (wanted("powerdns")) {
  const fake = seeded(
    new PowerDnsFake({ baseUrl: `http://bench${++n}.pdns.test:8081`, keys: ["pdns-bench-key-0123"] }),
  );
  server.resetHandlers(...fake.handlers);
  fake.addZone(
    "example.com",
    Array.from({ length: RECORDS }, (_, i) => h(i)),
  );
  const provider = createPowerDnsProvider({
    provider: "powerdns",
    zones: ["example.com"],
    apiUrl: fake.baseUrl,
    options: {},
    baseDir: "/",
    env: { PDNS_API_KEY: "pdns-bench-key-0123" },
  });
  rows.push({
    provider: "powerdns",
    method: "cutover: one PATCH of REPLACE RRsets",
    ...(await swapWith(provider, fake.log)),
  });
}
if (wanted("route53")) {
  const fake = seeded(new Route53Fake({ baseUrl: `https://bench${++n}.r53.test` }));
  server.resetHandlers(...fake.handlers);
  const zone = fake.addZone("example.com");
  for (let i = 0; i < RECORDS; i++) fake.addRecord(zone, h(i));
  const provider = createRoute53Provider({
    provider: "route53",
    zones: ["example.com"],
    apiUrl: fake.baseUrl,
    options: {},
    baseDir: "/",
    env: {
      AWS_ACCESS_KEY_ID: "AKIAFAKE0123456789AB",
      AWS_SECRET_ACCESS_KEY: "fakeSecretKey0123456789abcdefABCDEF012345",
    },
  });
  const method = "cutover: DELETE+CREATE, ≤1000 values a request, INSYNC";
  rows.push({ provider: "route53", method, ...(await swapWith(provider, fake.log)) });
  const throttled = fake.log.filter((r) => r.status === 400).length;
  if (throttled > 0) console.error(`route53: ${throttled} requests throttled`);
}
// No one-at-a-time yardstick here: 1,000 PATCHes at 250 per minute take over 3 minutes however they are sent.
for (const concurrency of wanted("digitalocean") ? [16] : []) {
  const fake = seeded(new DigitalOceanFake({ baseUrl: `https://bench${++n}.do.test/v2` }));
  server.resetHandlers(...fake.handlers);
  fake.addDomain("example.com");
  for (let i = 0; i < RECORDS; i++) fake.addRecord("example.com", h(i));
  const provider = createDigitalOceanProvider({
    provider: "digitalocean",
    zones: ["example.com"],
    apiUrl: fake.baseUrl,
    options: { concurrency },
    baseDir: "/",
    env: { DIGITALOCEAN_ACCESS_TOKEN: "dop_v1_fake0123456789abcdef" },
  });
  const method =
    concurrency === 1
      ? "yardstick: one PATCH per record, in turn"
      : `cutover: ${concurrency} PATCHes in flight, 250/min`;
  rows.push({ provider: "digitalocean", method, ...(await swapWith(provider, fake.log)) });
}
// No one-at-a-time yardstick: 1,000 actions followed in turn take about 10 minutes at this latency.
for (const concurrency of wanted("hetzner") ? [8] : []) {
  const fake = seeded(new HetznerFake({ baseUrl: `https://bench${++n}.hz.test/v1` }));
  server.resetHandlers(...fake.handlers);
  fake.addZone("example.com");
  for (let i = 0; i < RECORDS; i++) fake.addRecord("example.com", h(i));
  const provider = createHetznerProvider({
    provider: "hetzner",
    zones: ["example.com"],
    apiUrl: fake.baseUrl,
    options: { concurrency },
    baseDir: "/",
    env: { HCLOUD_TOKEN: "hcloud-fake-token-0123456789abcdef" },
  });
  const method =
    concurrency === 1 ? "yardstick: one action per RRset, in turn" : `cutover: ${concurrency} actions in flight`;
  rows.push({ provider: "hetzner", method, ...(await swapWith(provider, fake.log)) });
}
server.close();

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
console.log(`swap of ${RECORDS} A records, every API call delayed ${LATENCY} ms (msw fakes, in process)\n`);
console.log(
  [
    "provider".padEnd(12),
    "method".padEnd(54),
    "calls".padStart(6),
    "writes".padStart(7),
    "wall".padStart(10),
    "skew".padStart(10),
    "wall vs yardstick".padStart(18),
    "ok",
  ].join(" "),
);
for (const r of rows) {
  // PowerDNS and Route 53 have no per-record yardstick here: their API writes whole RRsets.
  const yard = rows.find((x) => x.provider === r.provider && x.method.startsWith("yardstick"));
  console.log(
    [
      r.provider.padEnd(12),
      r.method.padEnd(54),
      String(r.calls).padStart(6),
      String(r.writes).padStart(7),
      fmt(r.wallMs).padStart(10),
      fmt(r.skewMs).padStart(10),
      (yard ? `${(r.wallMs / yard.wallMs).toFixed(3)}×` : "-").padStart(18),
      r.complete ? "yes" : "NO",
    ].join(" "),
  );
}
const best = rows.find((r) => r.method.startsWith("cutover: batches of 1000"));
if (best) {
  console.log(
    `\ntarget Cloudflare ≤ 5 calls and skew < ${LATENCY} ms: ${best.calls} calls, skew ${fmt(best.skewMs)} → ${best.calls <= 5 && best.skewMs < LATENCY ? "met" : "NOT met"} (batches of 1000; Free-plan batches of 200 need ${rows[1]!.calls} calls)`,
  );
}
const li = rows.filter((r) => r.provider === "linode" && !r.method.startsWith("yardstick"));
if (li.length > 0) {
  console.log(
    `Linode: ${li.map((r) => `${r.method.replace("cutover: ", "")} ${(RECORDS / (r.wallMs / 1000)).toFixed(0)} records/s`).join(", ")}; its limit is 1600 requests/min (26.7/s sustained, bursts allowed within the minute)`,
  );
}
