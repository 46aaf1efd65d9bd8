import { createSocket, type Socket } from "node:dgram";
import { afterEach, expect, test } from "vitest";
import { startRelay } from "../src/index.js";
import { waitFor } from "./_helpers.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function bound(s: Socket): Promise<number> {
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  return s.address().port;
}

test("UDP: each client gets its own flow and its own answers; idle flows are closed", async () => {
  const echo = createSocket("udp4");
  echo.on("message", (m, r) => echo.send(Buffer.concat([Buffer.from("echo:"), m]), r.port, r.address));
  const echoPort = await bound(echo);
  cleanups.push(() => echo.close());
  const relay = await startRelay({
    listeners: [
      {
        kind: "udp",
        host: "127.0.0.1",
        port: 0,
        upstream: { kind: "tcp", host: "127.0.0.1", port: echoPort },
        idleTimeoutMs: 300,
      },
    ],
  });
  cleanups.push(() => relay.stop());
  const port = relay.bound()[0]!.port!;
  const clients = [createSocket("udp4"), createSocket("udp4")];
  const got: string[][] = [[], []];
  for (const [i, c] of clients.entries()) {
    await bound(c);
    c.on("message", (m) => got[i]!.push(m.toString()));
    cleanups.push(() => c.close());
  }
  for (let n = 0; n < 3; n++) for (const [i, c] of clients.entries()) c.send(`c${i}-${n}`, port, "127.0.0.1");
  await waitFor(() => got[0]!.length === 3 && got[1]!.length === 3);
  expect(got[0]!.sort()).toEqual(["echo:c0-0", "echo:c0-1", "echo:c0-2"]);
  expect(got[1]!.sort()).toEqual(["echo:c1-0", "echo:c1-1", "echo:c1-2"]);
  const s = relay.status();
  expect(s.listeners[0]).toMatchObject({ kind: "udp", active: 2, total: 2, bytesIn: 6 * 4, bytesOut: 6 * 9 });
  await waitFor(() => relay.status().listeners[0]!.active === 0, 3000);
});
