import fc from "fast-check";
import { join } from "node:path";
import type { Server, Socket } from "node:net";
import { afterEach, expect, test } from "vitest";
import { ADMIN_MAX_REQUEST, parseAdminRequest, startAdminServer } from "../src/admin.js";
import { queryAdmin, startRelay } from "../src/index.js";
import { dial, readAll, tempDir, waitFor } from "./_helpers.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function adminServer(readTimeoutMs?: number): Promise<{ path: string; server: Server }> {
  const t = await tempDir();
  cleanups.push(t.remove);
  const path = join(t.dir, "admin.sock");
  const server = await startAdminServer(
    path,
    async (r) => ({ ok: true, cmd: r.cmd }),
    readTimeoutMs === undefined ? {} : { readTimeoutMs },
  );
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { path, server };
}

/** The answer line a socket gets before it closes, parsed. */
async function answerOf(s: Socket): Promise<unknown> {
  const { data } = await readAll(s);
  return JSON.parse(data.toString("utf8"));
}

test("admin socket: clients that send half a request are answered and closed by the read timeout", async () => {
  const { path } = await adminServer(); // the default timeout, as the relay runs it
  const clients: Socket[] = [];
  for (let i = 0; i < 100; i++) {
    const s = await dial({ path });
    s.write('{"cmd":"sta');
    clients.push(s);
  }
  const answers = await Promise.all(clients.map(answerOf));
  for (const a of answers) expect(a).toEqual({ ok: false, error: "no complete request line within 5000 ms" });
  // All closed by the server, none left open (bounded well below the old 10 s idle limit).
  await waitFor(() => clients.every((c) => c.destroyed || c.readableEnded), 9000);
  for (const c of clients) c.destroy();
}, 20_000);

test("admin socket: a client trickling one byte at a time is closed too", async () => {
  const { path } = await adminServer(300);
  const s = await dial({ path });
  const answer = answerOf(s);
  const text = '{"cmd":"status"}';
  let i = 0;
  const t = setInterval(() => {
    if (s.destroyed || s.writableEnded) return clearInterval(t);
    s.write(text[i++ % text.length]!.replace("\n", ""));
  }, 50);
  cleanups.push(async () => clearInterval(t));
  expect(await answer).toEqual({ ok: false, error: "no complete request line within 300 ms" });
  s.destroy();
});

test("admin socket: null, arrays, unknown commands and bad deadlines get a clear error answer", async () => {
  const t = await tempDir();
  cleanups.push(t.remove);
  const admin = join(t.dir, "relay.sock");
  const relay = await startRelay({ listeners: [], admin: { path: admin } });
  cleanups.push(() => relay.stop());
  const ask = async (line: string) => {
    const s = await dial({ path: admin });
    const a = answerOf(s);
    s.end(`${line}\n`);
    return a;
  };
  expect(await ask("null")).toEqual({ ok: false, error: 'a request is a JSON object such as {"cmd":"status"}' });
  expect(await ask("[1]")).toEqual({ ok: false, error: 'a request is a JSON object such as {"cmd":"status"}' });
  expect(await ask('"status"')).toEqual({ ok: false, error: 'a request is a JSON object such as {"cmd":"status"}' });
  expect(await ask('{"cmd":"reboot"}')).toEqual({
    ok: false,
    error: 'unknown command "reboot"; expected status, drain or stop',
  });
  expect(await ask('{"cmd":"drain","deadlineMs":-1}')).toMatchObject({ ok: false, error: /^deadlineMs is a whole/ });
  expect(await ask('{"cmd":"drain","deadlineMs":1e400}')).toMatchObject({ ok: false });
  expect(await ask("not json")).toEqual({ ok: false, error: "request is not JSON" });
  expect(await ask("x".repeat(ADMIN_MAX_REQUEST + 10))).toEqual({
    ok: false,
    error: `request longer than ${ADMIN_MAX_REQUEST} bytes`,
  });
  // Still serving after all that.
  expect(await queryAdmin(admin, { cmd: "status" })).toMatchObject({ state: "running" });
});

test("parseAdminRequest: any text gives a request or a short reason, never an exception", () => {
  const line = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.json({ maxDepth: 4 }),
    fc
      .record({ cmd: fc.oneof(fc.constantFrom("status", "drain", "stop"), fc.anything()), deadlineMs: fc.anything() })
      .map((o) => {
        try {
          return JSON.stringify(o) ?? "";
        } catch {
          return "";
        }
      }),
  );
  fc.assert(
    fc.property(line, (text) => {
      const r = parseAdminRequest(text);
      if ("error" in r) return r.error.length > 0 && r.error.length <= 120;
      return ["status", "drain", "stop"].includes(r.cmd);
    }),
    { numRuns: 3000 },
  );
});

test("admin socket fuzz: random and truncated bytes in random pieces get at most one short answer", async () => {
  const { path } = await adminServer(100);
  const pieces = fc.array(
    fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc
        .constantFrom('{"cmd":"status"}\n', '{"cmd":"drain","deadlineMs":5}', "null\n", "\n", '{"cmd":')
        .map((s) => Buffer.from(s)),
    ),
    { maxLength: 6 },
  );
  await fc.assert(
    fc.asyncProperty(pieces, fc.boolean(), async (chunks, halfClose) => {
      const s = await dial({ path });
      const result = readAll(s);
      for (const c of chunks) if (!s.destroyed) s.write(c);
      if (halfClose && !s.destroyed) s.end();
      const { data } = await result;
      // One JSON line at most, bounded, or nothing (the client closed before the server saw a byte).
      expect(data.length).toBeLessThanOrEqual(256);
      if (data.length > 0) {
        expect(data.toString("utf8").endsWith("\n")).toBe(true);
        expect(JSON.parse(data.toString("utf8"))).toHaveProperty("ok");
      }
      s.destroy();
    }),
    { numRuns: 150 },
  );
}, 60_000);
