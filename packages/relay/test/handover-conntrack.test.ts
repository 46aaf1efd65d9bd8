import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { afterAll, describe, expect, test } from "vitest";
import { startRelay } from "../src/index.js";
import { freePort } from "./_servers.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const hasTools = existsSync("/usr/sbin/conntrack") && existsSync("/usr/sbin/nft");
const tracking = `cot_ctt${process.pid}`;

/** A connection from a fixed local port: what it read, or its error code. */
function fetchFrom(localPort: number, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, localAddress: "127.0.0.1", localPort });
    let data = "";
    s.setEncoding("utf8");
    s.on("data", (d) => (data += d));
    s.on("end", () => resolve(data));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.setTimeout(10_000, () => s.destroy(new Error("timeout")));
  });
}

const listen = (server: Server, port: number) => new Promise<void>((r) => server.listen(port, "127.0.0.1", r));

afterAll(() => {
  try {
    execFileSync("nft", ["delete", "table", "inet", tracking]);
  } catch {
    // not created
  }
});

// The redirect lives in a nat chain, which sees only a new tracking entry's first packet. A connection the
// stopped service reset keeps its entry, un-redirected, for 10 s; a client reusing its source port sends a
// SYN the kernel attaches to it, which then reaches the stopped service's port and is refused.
describe.skipIf(!isRoot || !hasTools)("redirect: a client port reused after the old service reset it (root)", () => {
  test("the SYN is redirected to the relay, not refused", async () => {
    // Connection tracking on, as any stateful firewall has it.
    execFileSync("nft", ["-f", "-"], {
      input: `table inet ${tracking} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ct state established accept\n  }\n}\n`,
    });
    const [servicePort, newPort, clientPort] = [await freePort(), await freePort(), await freePort()];
    const upstream = createServer((s) => s.end("new\n"));
    await listen(upstream, newPort);
    // The old service, as it is being stopped: it resets the connection it has open.
    const old = createServer((s) => s.resetAndDestroy());
    await listen(old, servicePort);
    expect(await fetchFrom(clientPort, servicePort)).toBe("ECONNRESET");
    await new Promise((r) => old.close(r));
    const relay = await startRelay({
      listeners: [
        {
          kind: "tcp",
          host: "127.0.0.1",
          port: servicePort,
          upstream: { kind: "tcp", host: "127.0.0.1", port: newPort },
        },
      ],
      handover: { mode: "redirect", table: `cot_ct${process.pid}`, services: [], settleMs: 50 },
    });
    try {
      expect((await relay.handover)?.state).toBe("done");
      // The same client port, well within the 10 s the reset's tracking entry lives.
      expect(await fetchFrom(clientPort, servicePort)).toBe("new\n");
    } finally {
      await relay.stop();
      await new Promise((r) => upstream.close(r));
    }
  });
});
