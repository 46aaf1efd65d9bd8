import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { queryAdmin, startRelay, type RelayStatus } from "../src/index.js";
import { dial, pattern, readAll, sleep, startServer, tempDir, waitFor } from "./_helpers.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An upstream that answers each connection with `size` bytes, slowly (so transfers are in flight). */
async function slowSource(size: number, chunk = 64 * 1024, everyMs = 20) {
  const body = pattern(size, 3);
  const up = await startServer((s) => {
    let o = 0;
    const t = setInterval(() => {
      if (s.destroyed) return clearInterval(t);
      s.write(body.subarray(o, o + chunk));
      o += chunk;
      if (o >= size) {
        clearInterval(t);
        s.end();
      }
    }, everyMs);
  });
  cleanups.push(up.close);
  return { port: up.port, sha: createHash("sha256").update(body).digest("hex") };
}

test("admin socket: mode 0600, status with per-listener and per-client stats", async () => {
  const t = await tempDir();
  cleanups.push(t.remove);
  const up = await startServer((s) => s.pipe(s));
  cleanups.push(up.close);
  const admin = join(t.dir, "admin.sock");
  const relay = await startRelay({
    listeners: [
      { kind: "tcp", host: "127.0.0.1", port: 0, upstream: { kind: "tcp", host: "127.0.0.1", port: up.port } },
    ],
    admin: { path: admin },
  });
  cleanups.push(() => relay.stop());
  expect(statSync(admin).mode & 0o777).toBe(0o600);
  const port = relay.bound()[0]!.port!;
  for (const from of ["127.0.0.3", "127.0.0.3", "127.0.0.4"]) {
    const c = await new Promise<Socket>((resolve) => {
      const s = connect({ port, host: "127.0.0.1", localAddress: from }, () => resolve(s));
    });
    const r = readAll(c);
    c.end("12345");
    await r;
  }
  const open = await dial({ port });
  await waitFor(() => relay.status().active === 1);
  const status = (await queryAdmin(admin, { cmd: "status" })) as RelayStatus;
  expect(status.state).toBe("running");
  expect(status.active).toBe(1);
  expect(status.total).toBe(4);
  expect(status.listeners[0]).toMatchObject({
    total: 4,
    active: 1,
    bytesIn: 15,
    bytesOut: 15,
    listen: `127.0.0.1:${port}`,
  });
  const byAddr = Object.fromEntries(status.clients.map((c) => [c.address, c]));
  expect(byAddr["127.0.0.3"]).toMatchObject({ total: 2, active: 0, bytesIn: 10, bytesOut: 10 });
  expect(byAddr["127.0.0.4"]).toMatchObject({ total: 1, bytesIn: 5 });
  expect(byAddr["127.0.0.1"]).toMatchObject({ active: 1 });
  expect(Date.parse(byAddr["127.0.0.3"]!.firstSeen)).toBeLessThanOrEqual(Date.parse(byAddr["127.0.0.3"]!.lastSeen));
  expect(status.clients[0]!.address).toBe("127.0.0.1"); // most recent first
  open.destroy();
});

test("drain: new connections are refused, transfers in flight finish intact, then the relay stops", async () => {
  const src = await slowSource(2 * 1024 * 1024); // ~0.7 s per transfer
  const relay = await startRelay({
    listeners: [
      { kind: "tcp", host: "127.0.0.1", port: 0, upstream: { kind: "tcp", host: "127.0.0.1", port: src.port } },
    ],
  });
  const port = relay.bound()[0]!.port!;
  const inflight = await Promise.all([1, 2, 3].map(() => dial({ port })));
  const results = inflight.map((c) => {
    const r = readAll(c);
    c.end(); // the client has nothing to send: its direction is done
    return r;
  });
  await sleep(150);
  const draining = relay.drain(10_000);
  await sleep(20);
  expect(relay.status().state).toBe("draining");
  await expect(dial({ port })).rejects.toMatchObject({ code: "ECONNREFUSED" });
  const done = await Promise.all(results);
  for (const r of done) expect(createHash("sha256").update(r.data).digest("hex")).toBe(src.sha);
  const d = await draining;
  expect(d.forced).toBe(0);
  await relay.stopped;
  expect(relay.status().state).toBe("stopped");
});

test("drain deadline: what is still open then is closed", async () => {
  const src = await slowSource(50 * 1024 * 1024, 16 * 1024, 50); // would take minutes
  const relay = await startRelay({
    listeners: [
      { kind: "tcp", host: "127.0.0.1", port: 0, upstream: { kind: "tcp", host: "127.0.0.1", port: src.port } },
    ],
  });
  const c = await dial({ port: relay.bound()[0]!.port! });
  const r = readAll(c);
  await waitFor(() => relay.status().active === 1);
  const d = await relay.drain(300);
  expect(d.forced).toBe(1);
  expect((await r).data.length).toBeLessThan(50 * 1024 * 1024);
});

test("stops by itself when quiet for drain.quietMs", async () => {
  const up = await startServer((s) => s.end("x"));
  cleanups.push(up.close);
  const relay = await startRelay({
    listeners: [
      { kind: "tcp", host: "127.0.0.1", port: 0, upstream: { kind: "tcp", host: "127.0.0.1", port: up.port } },
    ],
    drain: { quietMs: 400 },
  });
  const port = relay.bound()[0]!.port!;
  const t0 = Date.now();
  for (let i = 0; i < 3; i++) {
    const c = await dial({ port });
    c.end();
    await readAll(c);
    await sleep(200); // activity keeps it alive
  }
  await relay.stopped;
  // the last connection closed at about 400 ms; 400 ms of quiet after it
  expect(Date.now() - t0).toBeGreaterThanOrEqual(400 + 400 - 50);
  expect(relay.status().total).toBe(3);
});

test("admin drain and stop commands", async () => {
  const t = await tempDir();
  cleanups.push(t.remove);
  const up = await startServer((s) => s.end("x"));
  cleanups.push(up.close);
  const admin = join(t.dir, "admin.sock");
  const relay = await startRelay({
    listeners: [
      { kind: "tcp", host: "127.0.0.1", port: 0, upstream: { kind: "tcp", host: "127.0.0.1", port: up.port } },
    ],
    admin: { path: admin },
  });
  expect(await queryAdmin(admin, { cmd: "drain", deadlineMs: 1000 })).toMatchObject({ ok: true, deadlineMs: 1000 });
  await relay.stopped;
  await expect(queryAdmin(admin, { cmd: "status" })).rejects.toMatchObject({ code: "E_ADMIN_UNREACHABLE" });
});
