import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { startAuthoritativeServer } from "@cutover/dns";
import { queryAdmin } from "@cutover/relay";
import { join } from "node:path";

const examples = new URL("../../../examples/", import.meta.url).pathname;

/** A plan directory with the example zone files, moving to a real listener on 127.0.0.1 (the "new host"). */
export async function makeMoveDir(options: {
  swapAt: string;
  extra?: string;
  ports?: number[];
  /** Who runs the test's resolver and where (the plan's label). */
  resolverLabel?: { operator: string; location: string };
}) {
  const dir = mkdtempSync(join(tmpdir(), "cutover-move-"));
  cpSync(join(examples, "zones"), join(dir, "zones"), { recursive: true });
  const servers: Server[] = [];
  const ports: number[] = options.ports ?? [];
  if (!options.ports) {
    const s = createServer((c) => {
      c.on("error", () => {}); // the preflight hangs up as soon as it has its answer
      c.end("220 new.example.test ESMTP\r\n");
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    ports.push((s.address() as { port: number }).port);
  }
  // The zones are served for real, so the watch step asks a real DNS server (on loopback only).
  const dns = await startAuthoritativeServer({
    zoneFiles: [join(dir, "zones/example.com.zone"), join(dir, "zones/example.org.zone")],
    listen: "127.0.0.1:0",
    pollMs: 50,
  });
  const plan = `name: move-test
old: { ipv4: 198.51.100.10, ipv6: "2001:db8:10::10" }
new: { ipv4: 127.0.0.1, ipv6: "2001:db8::20" }
dns:
  provider: zonefile
  zones: [example.com, example.org]
  files: { example.com: zones/example.com.zone, example.org: zones/example.org.zone }
  lowTtl: 300
schedule:
  swapAt: ${options.swapAt}
  margin: 1h
  restoreTtlAfter: 24h
  drain: { quiet: 30m, deadline: 72h }
relay:
  ports: [${ports.join(", ")}]
  listen: 127.0.0.2
handover: { mode: rebind }
propagation:
  resolvers: [${options.resolverLabel ? `{ server: "${dns.address}", operator: ${JSON.stringify(options.resolverLabel.operator)}, location: ${JSON.stringify(options.resolverLabel.location)} }` : dns.address}]
  authoritative:
    parent: false
    bootstrap: ${dns.address}
    nsAddresses: { ns1.example.com: [${dns.address}], ns2.example.net: [${dns.address}] }
${options.extra ?? ""}`;
  writeFileSync(join(dir, "cutover.yaml"), plan);
  return {
    dir,
    zone: (name: string) => readFileSync(join(dir, "zones", `${name}.zone`), "utf8"),
    dns,
    close: async () => {
      // A relay started by the handover step runs detached: stop it.
      await queryAdmin(join(dir, ".cutover/move-test/relay.sock"), { cmd: "stop" }, 2000).catch(() => undefined);
      await Promise.all([dns.close(), ...servers.map((s) => new Promise((r) => s.close(r)))]);
    },
  };
}

/** A clock that `sleep` moves forward at once: a 24-hour timeline runs in milliseconds. */
export function fastClock(start: string) {
  let t = Date.parse(start);
  return {
    now: () => new Date(t),
    set: (iso: string) => void (t = Date.parse(iso)),
    advance: (ms: number) => void (t += ms),
    sleep: async (ms: number, signal?: AbortSignal) => {
      if (signal?.aborted) throw new Error("aborted");
      t += ms;
    },
  };
}
