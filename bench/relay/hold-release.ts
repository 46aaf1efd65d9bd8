/**
 * The hold's release, measured: N connections held by a relay on loopback (rebind handover, a sync that ends
 * when the script says so), then released; prints how long the release took (from the end of the sync to
 * the last client's answer) and per connection, beside the same N connections made straight to the
 * upstream as the yardstick. Each held connection is connected upstream once the one before it is (arrival
 * order), so the release costs about one upstream connect per held connection.
 *
 *   npm run build && npx tsx bench/relay/hold-release.ts [--n 1000]
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "@cutover/testkit";
import { startRelay } from "../../packages/relay/src/index.js";

const i = process.argv.indexOf("--n");
const N = i > 0 ? Number(process.argv[i + 1]) : 1000;

const upstream = createServer((s) => s.once("data", () => s.end("ok\n")));
await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
const upPort = (upstream.address() as AddressInfo).port;

const ask = (port: number) =>
  new Promise<number>((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.on("connect", () => s.write("x\n"));
    s.on("data", () => undefined);
    s.on("end", () => resolve(performance.now()));
    s.on("error", reject);
  });

// Yardstick: N connections straight to the upstream, at once.
let t0 = performance.now();
await Promise.all(Array.from({ length: N }, () => ask(upPort)));
const direct = performance.now() - t0;

const dir = await mkdtemp(join(tmpdir(), "cutover-hold-bench-"));
const marker = join(dir, "synced");
const port = await freePort();
const relay = await startRelay({
  listeners: [{ kind: "tcp", host: "127.0.0.1", port, upstream: { kind: "tcp", host: "127.0.0.1", port: upPort } }],
  handover: {
    mode: "rebind",
    table: `cot_hb${process.pid}`,
    services: [],
    hold: { maxConnections: N, maxMs: 600_000 },
    sync: [{ kind: "command", argv: ["sh", "-c", `while [ ! -e ${marker} ]; do sleep 0.01; done`] }],
  },
});
while (!(relay.status().handover?.state === "holding" && relay.bound().length === 1))
  await new Promise((r) => setTimeout(r, 10));
const answers = Array.from({ length: N }, () => ask(port));
while ((relay.status().handover?.hold?.heldNow ?? 0) < N) await new Promise((r) => setTimeout(r, 10));
t0 = performance.now();
await writeFile(marker, "");
const ends = await Promise.all(answers);
const release = Math.max(...ends) - t0;
const h = (await relay.handover)!;
await relay.stop();
upstream.close();
if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
console.log(
  `${N} held connections released in ${release.toFixed(0)} ms (${((release / N) * 1000).toFixed(0)} µs each; hold window ${h.hold?.windowMs} ms); the same ${N} straight to the upstream: ${direct.toFixed(0)} ms; ratio ${(release / direct).toFixed(2)}`,
);
