import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { queryAdmin } from "../src/admin.js";
import type { RelayStatus } from "../src/stats.js";
import { dial, readAll, sleep, startServer, tempDir, waitFor } from "./_helpers.js";
import { freePort, startProcess } from "./_servers.js";

const pkg = new URL("..", import.meta.url).pathname;
let t: Awaited<ReturnType<typeof tempDir>>;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  if (!existsSync(join(pkg, "dist/main.js"))) execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: pkg });
  t = await tempDir();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await t?.remove();
});

/**
 * Starts the relay program with `workers: 2` on a free port in front of `upstreamPort` (with `extra` in its
 * config) and waits until both processes run: the helper says which data path it uses once it runs.
 */
async function startTwoProcessRelay(name: string, upstreamPort: number, extra: Record<string, unknown>) {
  const port = await freePort();
  const file = join(t.dir, `${name}.json`);
  await writeFile(
    file,
    JSON.stringify({
      workers: 2,
      ...extra,
      listeners: [
        { kind: "tcp", host: "127.0.0.1", port, upstream: { kind: "tcp", host: "127.0.0.1", port: upstreamPort } },
      ],
    }),
  );
  const relay = startProcess(process.execPath, [join(pkg, "dist/main.js"), file]);
  cleanups.push(relay.stop);
  await relay.waitForOutput("listening on 127.0.0.1");
  await waitFor(() => (relay.output().match(/data path:/g) ?? []).length === 2, 10_000);
  return { relay, port, main: relay.child.pid! };
}

/** Runs `fn` with the main process stopped (SIGSTOP): it accepts nothing, so new connections are the helper's. */
async function whileFrozen<T>(main: number, fn: () => Promise<T>): Promise<T> {
  process.kill(main, "SIGSTOP");
  try {
    return await fn();
  } finally {
    process.kill(main, "SIGCONT");
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("workers: 2 with an admin socket: the helper serves while the main process is frozen, status counts both, drain waits for both", async () => {
  // An echo server that answers a connection's data 1 s after the client's FIN (for the drain).
  const up = await startServer((s) => {
    const chunks: Buffer[] = [];
    s.on("data", (d: Buffer) => chunks.push(d));
    s.on("end", () => setTimeout(() => s.end(Buffer.concat(chunks)), chunks.join("") === "slow" ? 1000 : 0));
  });
  cleanups.push(up.close);
  const admin = join(t.dir, "admin.sock");
  const { relay, port, main } = await startTwoProcessRelay("relay", up.port, {
    admin: { path: admin },
    drain: { deadlineMs: 20_000 },
  });
  const status = async () => (await queryAdmin(admin, { cmd: "status" })) as RelayStatus;
  const echo = async (text: string) => {
    const c = await dial({ port });
    const reply = readAll(c);
    c.end(text);
    return (await reply).data.toString();
  };

  const { replies, slow } = await whileFrozen(main, async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => echo(`hello ${i}`)));
    const c = await dial({ port });
    const reply = readAll(c);
    c.end("slow");
    await sleep(200); // the helper has it
    return { replies, slow: reply.then((r) => r.data.toString()) };
  });
  expect(replies).toEqual(Array.from({ length: 20 }, (_, i) => `hello ${i}`));

  // The main process merges the helper's report (sent every second).
  await waitFor(async () => (await status()).total === 21, 5_000);
  const s = await status();
  expect(s.workers?.length).toBe(2);
  expect(s.workers?.[0]?.pid).toBe(main);
  const helper = s.workers![1]!;
  // The 20 echoes were answered while the main process was frozen: the helper's. The slow one is too,
  // unless the helper had not accepted it within 200 ms (a busy machine); then the main process has it.
  expect(helper.total).toBeGreaterThanOrEqual(20);
  expect(s.active).toBe(1);
  expect(s.listeners[0]?.total).toBe(21);
  expect(s.clients[0]).toMatchObject({ address: "127.0.0.1", total: 21 });

  // Drain: the helper's open connection finishes; then every process exits.
  process.kill(main, "SIGTERM");
  expect(await slow).toBe("slow");
  await waitFor(() => relay.child.exitCode !== null, 10_000);
  expect(relay.child.exitCode).toBe(0);
  expect(alive(helper.pid)).toBe(false);
  await relay.waitForOutput("draining: 1 connection(s) open");
  await expect(dial({ port })).rejects.toMatchObject({ code: "ECONNREFUSED" });
  // Two processes, a freeze and a drain: seconds on a quiet machine, longer on a loaded CI runner.
}, 60_000);

test("workers: 2 and drain.quietMs: a connection open in the helper keeps the relay up; quiet after it, all stop", async () => {
  const up = await startServer((s) => s.pipe(s));
  cleanups.push(up.close);
  // quietMs counts from the main process's start until the helper has started: a helper slow to start (over
  // a second on a busy machine) found the relay already stopped at 800 ms. So a longer quietMs, and one
  // connection first, after which it counts from then.
  const { relay, port, main } = await startTwoProcessRelay("quiet", up.port, { drain: { quietMs: 2500 } });
  const first = await dial({ port });
  first.end("hi");
  expect((await readAll(first)).data.toString()).toBe("hi");
  const c = await whileFrozen(main, async () => {
    const c = await dial({ port }); // the helper's
    c.write("ping");
    await sleep(200);
    return c;
  });
  await sleep(4_000); // far past quietMs: only the helper's open connection keeps the relay up
  expect(relay.child.exitCode).toBe(null);
  const reply = readAll(c);
  c.end();
  expect((await reply).data.toString()).toBe("ping");
  await waitFor(() => relay.child.exitCode !== null, 10_000);
  expect(relay.child.exitCode).toBe(0);
  await relay.waitForOutput("quiet for 2500 ms: stopping");
});
