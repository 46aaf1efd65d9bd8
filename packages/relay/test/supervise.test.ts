import { spawn } from "node:child_process";
import { join } from "node:path";
import { createTestNetwork, type Netns, type TestNetwork } from "@cutover/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { queryAdmin, type RelayStatus } from "../src/index.js";
import { sleep, tempDir, waitFor } from "./_helpers.js";
import { ensureRelayBuilt, LISTENER_80, startOldAndNew, startRelayIn, type Proc } from "./_servers.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

// The respawn wrapper (hosts without systemd; this machine has none running): kill -9 the relay under load
// after its redirect handover. Only the connections open at that instant may fail; new ones wait (their SYN
// is held while nothing listens on the spare port) and reach the restarted relay, which takes over the rules.
describe.skipIf(!isRoot)("a supervised relay comes back (respawn wrapper, network namespaces; needs root)", () => {
  const table = `cot_sv${process.pid}`;
  let net: TestNetwork<"old" | "cli">;
  let OLD: Netns;
  let CLI: Netns;
  let oldService: Proc;
  let t: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    ensureRelayBuilt();
    t = await tempDir();
    net = await createTestNetwork("sv", { old: { address: "198.51.100.10/24" }, cli: { address: "198.51.100.50/24" } });
    ({ old: OLD, cli: CLI } = net.hosts);
    // The old service on 80 (stopped at the handover) and the new host behind the relay on 8081.
    ({ old: oldService } = await startOldAndNew(OLD));
  });

  afterAll(async () => {
    await net?.remove();
    await t?.remove();
  });

  test("kill -9 after the handover: restarted at once, only the connections open then fail, the redirect taken over", async () => {
    const admin = join(t.dir, "relay.sock");
    const servicePid = oldService.child.pid!;
    const wrapper = await startRelayIn(
      OLD,
      t.dir,
      "relay",
      {
        listeners: [LISTENER_80],
        admin: { path: admin },
        handover: {
          mode: "redirect",
          table,
          settleMs: 200,
          services: [String(servicePid)],
          // a restarted relay stops the services again: the stop command must accept one already stopped
          stopCommand: ["sh", "-c", "kill {service} 2>/dev/null; true"],
        },
      },
      ["--supervise"],
    );
    await wrapper.waitForOutput("handover: stopped", 20_000);
    const first = (await queryAdmin(admin, { cmd: "status" })) as RelayStatus;

    // Fresh connections from the client, 4 at a time, back to back.
    const load = spawn("ip", ["netns", "exec", CLI.name, process.execPath, "-e", LOAD, "198.51.100.10", "80", "6000"]);
    let out = "";
    load.stdout.on("data", (d: Buffer) => (out += d.toString()));
    load.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const done = new Promise((r) => load.once("close", r));
    await sleep(2000);
    const before = (await queryAdmin(admin, { cmd: "status" })) as RelayStatus;
    const killedAt = Date.now();
    process.kill(first.pid, "SIGKILL");
    // Restarted: a new relay answers on the admin socket.
    let second: RelayStatus | undefined;
    await waitFor(async () => {
      second = (await queryAdmin(admin, { cmd: "status" }).catch(() => undefined)) as RelayStatus | undefined;
      return (
        second !== undefined && second.pid !== first.pid && second.listeners.some((l) => l.listen.includes("20080"))
      );
    }, 20_000);
    const restartMs = Date.now() - killedAt;
    await done;
    const result = JSON.parse(out) as {
      ok: number;
      failed: number;
      errors: Record<string, number>;
      bodies: Record<string, number>;
    };
    console.log(
      `supervised relay killed with ${before.active} connection(s) open: restarted and serving after ${restartMs} ms (status poll); load ${JSON.stringify(result)}; restart ${JSON.stringify(second!.restarts)}`,
    );
    // Only the connections open at the kill may fail (a kill loses what the process held). The client has at
    // most 4 open at any instant, but a dying process closes its sockets one by one: a loop whose connection is
    // reset first reconnects within a millisecond, and its handshake can still complete on the listening
    // socket that has not been closed yet, which then resets it too. So at most 2 per loop; never a refusal
    // (the rules drop SYNs while nobody listens, and the client's retransmit reaches the new relay).
    expect(result.failed, out + wrapper.output()).toBeLessThanOrEqual(8);
    expect(result.errors.ECONNREFUSED ?? 0, out + wrapper.output()).toBe(0);
    expect(result.bodies.new).toBeGreaterThan(20);
    expect(second!.restarts).toMatchObject({ count: 1, last: { pid: first.pid, reason: "SIGKILL" } });
    expect(second!.restarts!.last!.restartMs).toBeLessThan(1000);
    expect(wrapper.output()).toMatch(
      /supervisor: relay \d+ died \(SIGKILL\); restarted as \d+ after \d+ ms \(restart 1\)/,
    );
    expect(wrapper.output()).toContain("taking them over");

    // A clean stop ends the wrapper too, and the rules go.
    process.kill(wrapper.child.pid!, "SIGTERM");
    await new Promise((r) => (wrapper.child.exitCode !== null ? r(null) : wrapper.child.once("exit", r)));
    expect(wrapper.child.exitCode).toBe(0);
    expect(() => OLD.exec("nft", "list", "table", "inet", table)).toThrow();
  }, 60_000);
});

/** Fresh connections for DURATION ms, 4 at a time; counts the outcomes. */
const LOAD = `
const [host, port, ms] = process.argv.slice(1);
const http = require("node:http");
const until = Date.now() + Number(ms);
const r = { ok: 0, failed: 0, errors: {}, bodies: {} };
const get = () => new Promise((resolve) => {
  // One outcome per request: a reset mid-response is reported by both the response and the request.
  let settled = false;
  const fail = (e) => { if (settled) return; settled = true; r.failed++; r.errors[e.code ?? e.message] = (r.errors[e.code ?? e.message] ?? 0) + 1; resolve(); };
  const req = http.get({ host, port: Number(port), path: "/", agent: false }, (res) => {
    let b = ""; res.on("data", (c) => (b += c));
    res.on("end", () => setTimeout(() => { if (settled) return; settled = true; r.ok++; r.bodies[b] = (r.bodies[b] ?? 0) + 1; resolve(); }, 0));
    res.on("error", fail);
  });
  req.setTimeout(10000, () => req.destroy(new Error("timeout")));
  req.on("error", fail);
});
const loop = async () => { while (Date.now() < until) await get(); };
Promise.all([loop(), loop(), loop(), loop()]).then(() => process.stdout.write(JSON.stringify(r)));
`;
