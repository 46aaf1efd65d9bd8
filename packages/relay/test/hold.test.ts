import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { createTestNetwork, type Netns, type TestNetwork } from "@cutover/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { queryAdmin, startRelay, type RelayConfig, type RelayHandle, type RelayStatus } from "../src/index.js";
import { sleep, startServer, tempDir, waitFor } from "./_helpers.js";
import {
  curlIn,
  curlInLater,
  ensureRelayBuilt,
  freePort,
  LISTENER_80,
  startOldAndNew,
  startRelayIn,
  waitForPort,
} from "./_servers.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** One client: connects, sends its id, reads the answer to the end. */
function ask(port: number, id: string): Promise<{ reply: string; error?: string }> {
  return new Promise((resolve) => {
    const s: Socket = connect({ port, host: "127.0.0.1" });
    let reply = "";
    s.setEncoding("utf8");
    s.on("connect", () => s.write(`${id}\n`));
    s.on("data", (d: string) => (reply += d));
    s.on("end", () => resolve({ reply }));
    s.on("error", (e: NodeJS.ErrnoException) => resolve({ reply, error: e.code ?? e.message }));
  });
}

/** The new host: answers `TAG ID`, recording the order in which connections arrived and whether `marker` existed. */
async function upstream(tag: string, marker?: string) {
  const order: string[] = [];
  const early: string[] = [];
  const srv = await startServer((s) => {
    const synced = marker === undefined || existsSync(marker);
    let buf = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const id = buf.slice(0, nl);
      order.push(id);
      if (!synced) early.push(id);
      s.end(`${tag} ${id}\n`);
    });
  });
  return { ...srv, order, early };
}

const hold = (r: RelayHandle) => r.status().handover!.hold!;

describe("the hold: connections wait while the final sync runs, then go upstream in arrival order", () => {
  let t: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    t = await tempDir();
  });
  afterAll(async () => {
    await t.remove();
  });

  /** A relay that rebinds `port` (free: no service) with a hold and a sync that ends when `marker` appears. */
  async function relayWithHold(
    port: number,
    newPort: number,
    marker: string,
    hold: NonNullable<RelayConfig["handover"]>["hold"],
    extra: Partial<NonNullable<RelayConfig["handover"]>> = {},
  ): Promise<RelayHandle> {
    return startRelay({
      listeners: [
        { kind: "tcp", host: "127.0.0.1", port, upstream: { kind: "tcp", host: "127.0.0.1", port: newPort } },
      ],
      handover: {
        mode: "rebind",
        table: `cot_h${process.pid}`,
        services: [],
        hold,
        sync: [
          {
            kind: "command",
            name: "wait for the marker",
            argv: ["sh", "-c", `while [ ! -e ${marker} ]; do sleep 0.02; done; touch ${marker}.synced`],
          },
        ],
        ...extra,
      },
    });
  }

  test("nothing refused, nothing reaches the new host before the sync, arrival order kept", async () => {
    const marker = join(t.dir, "m1");
    const up = await upstream("new", `${marker}.synced`);
    const port = await freePort();
    const relay = await relayWithHold(port, up.port, marker, { maxConnections: 100, maxMs: 60_000 });
    try {
      await waitFor(() => relay.status().handover?.state === "holding" && relay.bound().length === 1);
      const N = 40;
      const answers: Promise<{ reply: string; error?: string }>[] = [];
      // Each connects only once the one before it is held: their arrival order is known.
      for (let i = 0; i < N; i++) {
        answers.push(ask(port, String(i)));
        await waitFor(() => hold(relay).heldNow === i + 1);
      }
      const during = hold(relay);
      expect(during).toMatchObject({ state: "holding", heldNow: N, held: N, refused: 0 });
      expect(during.longestWaitMs).toBeGreaterThan(0);
      expect(up.order).toEqual([]);
      await writeFile(marker, "");
      const results = await Promise.all(answers);
      expect(results.filter((r) => r.error !== undefined)).toEqual([]);
      expect(results.map((r) => r.reply)).toEqual(results.map((_, i) => `new ${i}\n`));
      expect(up.order).toEqual(results.map((_, i) => String(i)));
      expect(up.early).toEqual([]);
      await relay.handover;
      const h = relay.status().handover!;
      expect(h.state).toBe("done");
      expect(h.hold).toMatchObject({
        state: "released",
        heldNow: 0,
        held: N,
        outcome: "synced",
        releasedTo: "upstream",
      });
      expect(h.hold!.windowMs).toBeGreaterThanOrEqual(h.hold!.longestWaitMs);
      expect(h.sync).toMatchObject({ state: "done", steps: [{ name: "wait for the marker", state: "done" }] });
      // After the hold: straight through.
      expect(await ask(port, "after")).toEqual({ reply: "new after\n" });
      expect(relay.status().listeners[0]!.refused).toBe(0);
    } finally {
      await relay.stop();
      await up.close();
    }
  });

  test("past hold.maxConnections a new connection is refused at once, and counted", async () => {
    const marker = join(t.dir, "m2");
    const up = await upstream("new");
    const port = await freePort();
    const relay = await relayWithHold(port, up.port, marker, { maxConnections: 3, maxMs: 60_000 });
    try {
      await waitFor(() => relay.status().handover?.state === "holding" && relay.bound().length === 1);
      const kept = [0, 1, 2].map((i) => ask(port, String(i)));
      await waitFor(() => hold(relay).heldNow === 3);
      const refused = await Promise.all([ask(port, "x"), ask(port, "y")]);
      expect(refused.map((r) => r.error)).toEqual(["ECONNRESET", "ECONNRESET"]);
      expect(hold(relay)).toMatchObject({ heldNow: 3, held: 3, refused: 2 });
      await writeFile(marker, "");
      expect((await Promise.all(kept)).map((r) => r.reply)).toEqual(["new 0\n", "new 1\n", "new 2\n"]);
    } finally {
      await relay.stop();
      await up.close();
    }
  });

  test("maxMs with release: the held connections go to the new host anyway, and the status says what was not synced", async () => {
    const up = await upstream("new");
    const port = await freePort();
    const relay = await relayWithHold(port, up.port, join(t.dir, "never"), {
      maxConnections: 10,
      maxMs: 2000,
      onTimeout: "release",
    });
    try {
      await waitFor(() => relay.status().handover?.state === "holding" && relay.bound().length === 1);
      const answers = [ask(port, "a"), ask(port, "b")];
      expect((await Promise.all(answers)).map((r) => r.reply)).toEqual(["new a\n", "new b\n"]);
      const h = await relay.handover;
      expect(h!.state).toBe("done");
      expect(h!.hold).toMatchObject({ outcome: "timeout", releasedTo: "upstream", state: "released" });
      expect(h!.sync).toMatchObject({ state: "timeout", steps: [{ state: "failed" }] });
      expect(h!.error).toMatch(/released to the new host without a complete sync/);
    } finally {
      await relay.stop();
      await up.close();
    }
  });

  test("maxMs with abort: the old service starts again and gets the held connections; the relay drains", async () => {
    const up = await upstream("new");
    const port = await freePort();
    const pidFile = join(t.dir, "old.pid");
    const script = `require("node:fs").writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
      require("node:net").createServer((s) => s.once("data", (d) => s.end("old " + d))).listen(${port}, "127.0.0.1")`;
    await writeFile(join(t.dir, "old.js"), script);
    const startOld = ["sh", "-c", `${process.execPath} ${join(t.dir, "old.js")} >/dev/null 2>&1 &`];
    execFileSync(startOld[0]!, startOld.slice(1));
    await waitForPort(port);
    const relay = await relayWithHold(
      port,
      up.port,
      join(t.dir, "never"),
      { maxConnections: 10, maxMs: 3000, onTimeout: "abort" },
      {
        services: ["old"],
        stopCommand: ["sh", "-c", `kill $(cat ${pidFile}); rm ${pidFile}`],
        startCommand: startOld,
      },
    );
    try {
      await waitFor(() => relay.status().handover?.state === "holding" && relay.bound().length === 1);
      const answers = [ask(port, "a"), ask(port, "b"), ask(port, "c")];
      const results = await Promise.all(answers);
      expect(results.map((r) => r.reply)).toEqual(["old a\n", "old b\n", "old c\n"]);
      expect(up.order).toEqual([]);
      const h = await relay.handover;
      expect(h!.state).toBe("aborted");
      expect(h!.hold).toMatchObject({ outcome: "timeout", releasedTo: "old-services", state: "aborted", held: 3 });
      expect(h!.error).toMatch(/old services run again/);
      await relay.stopped; // it drains by itself once the released connections are done
      expect((await ask(port, "later")).reply).toBe("old later\n");
    } finally {
      await relay.stop();
      await up.close();
      if (existsSync(pidFile)) process.kill(Number(execFileSync("cat", [pidFile]).toString()), "SIGTERM");
    }
  });
});

// A relay program ended during its hold (redirect handover in a network namespace): SIGTERM drains, which ends
// the hold as if its time were up (the held client is served by the new host) and removes the rules; SIGKILL
// leaves rules that stop matching within aliveSeconds.
describe.skipIf(!isRoot || process.env.CUTOVER_RELAY_DATA_PATH === "streams")(
  "a relay ended during the hold leaves no rule in force (needs root)",
  () => {
    const tag = `${process.pid}`;
    let net: TestNetwork<"host">;
    let NS: Netns;
    let t: Awaited<ReturnType<typeof tempDir>>;
    const ns = (cmd: string, ...args: string[]) => NS.exec(cmd, ...args);
    const get = () => curlIn(NS, "http://127.0.0.1:80/", 5);
    beforeAll(async () => {
      ensureRelayBuilt();
      t = await tempDir();
      net = await createTestNetwork("hold", { host: {} });
      NS = net.hosts.host;
      await startOldAndNew(NS);
    });
    afterAll(async () => {
      await net?.remove();
      await t?.remove();
    });

    test("abort with redirect: the held client and the ones after it are answered by the old service through the relay", async () => {
      const table = `cot_ha${tag}`;
      const admin = join(t.dir, "abort.sock");
      const relay = await startRelayIn(NS, t.dir, "abort", {
        listeners: [LISTENER_80],
        admin: { path: admin },
        handover: {
          mode: "redirect",
          table,
          settleMs: 100,
          // The old host's own address (what moves): the relay reaches the old service over 127.0.0.1.
          addresses: ["127.0.0.2"],
          // The old service keeps running here (the stop only records that it ran), so "start" finds it up.
          services: ["old"],
          stopCommand: ["true"],
          startCommand: ["true"],
          hold: { maxMs: 1500, onTimeout: "abort" },
          sync: [{ kind: "command", argv: ["sleep", "60"] }],
        },
      });
      await relay.waitForOutput("sync: ");
      // Redirected to the relay's spare port and held; answered after the abort through the same translation.
      const curl = () => curlInLater(NS, "http://127.0.0.2:80/", 20);
      // Redirected to the relay's spare port and held; after the abort the relay passes it to the old service.
      expect(await curl(), relay.output()).toBe("old");
      await relay.waitForOutput("hold: aborted");
      expect(relay.output()).toMatch(/released 1 connection/);
      // Later clients too (the redirect stays while connections it translated may be open); none goes to "new".
      expect(await curl(), relay.output()).toBe("old");
      const s = (await queryAdmin(admin, { cmd: "status" })) as RelayStatus;
      expect(s.handover).toMatchObject({ state: "aborted", hold: { releasedTo: "old-services", held: 1 } });
      expect(s.total).toBe(2);
      // Stopped (as rollback does): the rules go with it, and the old service answers directly.
      await queryAdmin(admin, { cmd: "stop" });
      await new Promise((r) => (relay.child.exitCode !== null ? r(null) : relay.child.once("exit", r)));
      expect(get()).toBe("old");
      await expect(Promise.resolve().then(() => ns("nft", "list", "table", "inet", table))).rejects.toThrow();
    }, 30_000);

    for (const signal of ["SIGTERM", "SIGKILL"] as const)
      test(`${signal} while connections are held`, async () => {
        const table = `cot_hk${tag}_${signal === "SIGTERM" ? 1 : 2}`;
        const admin = join(t.dir, `${signal}.sock`);
        const relay = await startRelayIn(NS, t.dir, signal, {
          listeners: [LISTENER_80],
          admin: { path: admin },
          handover: {
            mode: "redirect",
            table,
            aliveSeconds: 2,
            settleMs: 100,
            services: ["old"],
            stopCommand: ["true"],
            hold: { maxMs: 60_000 },
            sync: [{ kind: "command", argv: ["sleep", "60"] }],
          },
        });
        await relay.waitForOutput("sync: ");
        const heldClient = curlInLater(NS, "http://127.0.0.1:80/", 20);
        for (let i = 0; i < 200; i++) {
          const s = (await queryAdmin(admin, { cmd: "status" }).catch(() => undefined)) as RelayStatus | undefined;
          if (s?.handover?.hold?.heldNow === 1) break;
          await sleep(25);
        }
        process.kill(relay.child.pid!, signal);
        await new Promise((r) => (relay.child.exitCode !== null ? r(null) : relay.child.once("exit", r)));
        // Drained: released to the new host (the default policy); killed: its connection ends (it may retry).
        expect(await heldClient).toMatch(signal === "SIGTERM" ? /^new$/ : /^error/);
        if (signal === "SIGKILL") await sleep(3200);
        let inForce = "none";
        try {
          const text = ns("nft", "list", "table", "inet", table);
          if (/elements = \{ tcp/.test(text)) inForce = text;
        } catch {
          // no table
        }
        expect(inForce, relay.output()).toBe("none");
        expect(get()).toBe("old");
        ns("sh", "-c", `nft delete table inet ${table} 2>/dev/null || true`);
      }, 30_000);
  },
);
