import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ROOT } from "../_spawn.js";
import { createLab } from "./_netns.js";
import { startNginx } from "./_services.js";
import { startLoad } from "./_world.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const OLD = ["198.51.100.10", "2001:db8::10"] as const;
const NEW = ["203.0.113.20", "2001:db8::20"] as const;
const RELAY = join(ROOT, "packages/relay/dist/main.js");

/**
 * The rebind handover (the relay stops nginx and binds its port) under fresh connections from clients
 * that never resolve again, over IPv4 and IPv6, in network namespaces: nothing refused, nothing failed.
 * Between nginx closing its listening socket and the relay binding the port, the firewall drops new
 * SYNs (the clients send them again a second later) instead of the kernel answering with a reset.
 */
describe.skipIf(!isRoot)("rebind: nothing refused while the port is between owners", () => {
  test("fresh connections over IPv4 and IPv6 through a rebind: 0 refused, 0 failed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cutover-rebind-"));
    const lab = await createLab({ old: [...OLD], new: [...NEW], client: ["192.0.2.50", "2001:db8::50"] });
    try {
      const big = randomBytes(1024);
      const oldNginx = await startNginx(lab, "old", join(dir, "old"), {
        address: [...OLD],
        page: "served by the old host\n",
        big,
        rate: "3m",
      });
      await startNginx(lab, "new", join(dir, "new"), {
        address: [...NEW],
        page: "served by the new host\n",
        big,
        rate: "3m",
      });
      // The clients first (they take seconds to load on a busy machine): fresh connections, back to back,
      // for 12 s; the handover 4 s after they began.
      let started = 0;
      let allStarted!: () => void;
      const ready = new Promise<void>((r) => (allStarted = r));
      const loads = Promise.all(
        OLD.map((address) =>
          startLoad(
            lab,
            "client",
            "stale",
            { name: "www.example.test", address, deadline: 0, durationMs: 12_000, fresh: 4, pauseMs: 0 },
            () => ++started === OLD.length && allStarted(),
          ),
        ),
      );
      await ready;
      const handoverAt = Date.now() + 4000;
      const table = `cutover_rb${process.pid % 100000}`;
      const config = join(dir, "relay.json");
      await writeFile(
        config,
        JSON.stringify({
          listeners: [{ kind: "tcp", port: 80, upstream: { kind: "tcp", host: NEW[0], port: 80 } }],
          admin: { path: join(dir, "relay.sock") },
          handover: {
            mode: "rebind",
            at: new Date(handoverAt).toISOString(),
            table,
            services: [oldNginx.pidFile],
            // nginx's graceful stop: it closes its listening sockets at once and finishes what it serves
            stopCommand: ["sh", "-c", "kill -QUIT $(cat {service})"],
          },
        }),
      );
      // The relay program as `relay deploy` runs it on the old host (it starts faster than the whole CLI).
      const relay = spawn("ip", ["netns", "exec", lab.hosts.old!.ns, process.execPath, RELAY, config], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let relayOut = "";
      relay.stdout.on("data", (d: Buffer) => (relayOut += d.toString()));
      relay.stderr.on("data", (d: Buffer) => (relayOut += d.toString()));
      const exited = new Promise((r) => relay.once("exit", r));
      const [v4, v6] = await loads;
      const context = `${relayOut}\nIPv4: ${JSON.stringify({ ...v4, failures: v4!.failures.slice(0, 10) })}\nIPv6: ${JSON.stringify({ ...v6, failures: v6!.failures.slice(0, 10) })}`;
      console.log(
        `rebind under load: IPv4 ${JSON.stringify(v4!.ok)} (${v4!.failures.length} failed, slowest ${JSON.stringify(v4!.slowest)}), IPv6 ${JSON.stringify(v6!.ok)} (${v6!.failures.length} failed, slowest ${JSON.stringify(v6!.slowest)}); handover at ${handoverAt}`,
      );
      expect(relayOut, context).toMatch(/handover: nft holds new connections on 80/);
      expect(relayOut, context).toMatch(/handover: rebound/);
      for (const r of [v4!, v6!]) {
        expect(r.failures, context).toEqual([]);
        expect(r.byServer.old, context).toBeGreaterThan(0);
        expect(r.byServer.new, context).toBeGreaterThan(0);
      }
      process.kill(relay.pid!, "SIGTERM");
      await exited;
      // The hold rules went when the relay listened; nothing of ours is left.
      await expect(lab.exec("old", ["nft", "list", "table", "inet", table])).rejects.toThrow();
    } finally {
      await lab.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
