import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";

// NODE_DEBUG is read when a process starts, so the client runs in a child process with it set. The child
// imports the built package (the test task builds first); the API answers from this process, which has no
// NODE_DEBUG, so nothing it prints can hide a leak from the child.
const dist = new URL("../../dist/providers/linode.js", import.meta.url).href;
const TOKEN = "linode-debug-token-5f3a9c1e77d04b2a";
let seen: string | undefined;
const api = createServer((req, res) => {
  seen = req.headers.authorization;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify({ data: [{ id: 1, domain: "example.com", ttl_sec: 300 }], page: 1, pages: 1, results: 1 }));
});
let base = "";
beforeAll(async () => {
  await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(api.address() as AddressInfo).port}/v4`;
});
afterAll(() => new Promise<void>((r) => api.close(() => r())));

test("NODE_DEBUG=http does not print the Linode token", async () => {
  const script = `
    const { createLinodeProvider } = await import(${JSON.stringify(dist)});
    const p = createLinodeProvider({ provider: "linode", zones: ["example.com"], apiUrl: process.env.API,
      options: { retries: 0 }, baseDir: "/", env: { LINODE_TOKEN: process.env.LINODE_TOKEN } });
    const zones = await p.listZones();
    await p.close?.();
    console.log("zones", zones.map((z) => z.name).join(","));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH, API: base, LINODE_TOKEN: TOKEN, NODE_DEBUG: "http,https,net,tls,fetch,undici" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on("close", r));
  expect(out, err).toContain("zones example.com");
  expect(code).toBe(0);
  // The request did carry the token, so its absence from stderr means it was not printed.
  expect(seen).toBe(`Bearer ${TOKEN}`);
  expect(err).not.toContain(TOKEN);
  expect(err).not.toContain(TOKEN.slice(0, 16));
}, 30_000);
