import { spawn } from "node:child_process";
import { freePort } from "@cutover/testkit";
import { afterAll, expect, test } from "vitest";
import { CLI, ROOT, cutover, transcript } from "../_spawn.js";

// The built CLI as a script runs it: errors a library throws asynchronously reach the one handler (no
// raw stack from Node, no exit 1 that a script waiting for "propagated" reads as "not yet").
const children: Array<ReturnType<typeof spawn>> = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
});

async function serveOtherZone(): Promise<string> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, "dns", "serve", "examples/zones/example.org.zone", "--listen", `127.0.0.1:${port}`, "--json"],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`dns serve exited ${code}`)));
  });
  return `127.0.0.1:${port}`;
}

test("a bootstrap resolver that refuses the zone: exit 2, one message, no stack", async () => {
  const server = await serveOtherZone();
  const r = await cutover([
    "propagation",
    "www.example.net",
    "--expect",
    "203.0.113.20",
    "--resolvers",
    server,
    "--bootstrap",
    server,
  ]);
  expect(r.code, transcript(r)).toBe(2);
  expect(r.stderr, transcript(r)).toMatch(
    /cannot find the zone of www\.example\.net: 127\.0\.0\.1:\d+ answered REFUSED/,
  );
  expect(r.stderr, transcript(r)).not.toMatch(/\n\s+at /);
});

test("no resolver answers: exit 2 after the first round, also with --watch", async () => {
  for (const extra of [[], ["--watch", "--timeout", "10m"]]) {
    const r = await cutover(
      [
        "propagation",
        "www.example.net",
        "--expect",
        "203.0.113.20",
        "--resolvers",
        "127.0.0.1:1",
        "--no-authoritative",
        ...extra,
      ],
      { timeoutMs: 60_000 },
    );
    expect(r.timedOut, transcript(r)).toBe(false);
    expect(r.code, transcript(r)).toBe(2);
    expect(r.stderr, transcript(r)).toContain("no resolver answered: 127.0.0.1:1");
    expect(r.stderr, transcript(r)).not.toMatch(/\n\s+at /);
  }
});
