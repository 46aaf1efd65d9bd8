import { createConnection } from "node:net";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { fastClock, makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";
import { renderInChromium } from "@cutover/testkit";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

test("cutover report: one self-contained page of the whole move, rendered by headless Chromium", async () => {
  const move = await makeMoveDir({ swapAt: "2026-12-01T14:00:00Z" });
  cleanup.push(move.close);
  const clock = fastClock("2026-11-29T10:00:00Z");
  // A stale client arrives at the relay after the swap: the report must name it.
  let poked = false;
  const sleep = async (ms: number) => {
    const port = Number(/ports: \[(\d+)\]/.exec(readFileSync(join(move.dir, "cutover.yaml"), "utf8"))![1]);
    if (
      !poked &&
      clock.now().getTime() > Date.parse("2026-12-01T14:00:00Z") &&
      existsSync(join(move.dir, ".cutover/move-test/relay.sock"))
    ) {
      poked = true;
      await new Promise<void>((resolve) => {
        const c = createConnection({ host: "127.0.0.2", port, localAddress: "127.0.0.9" });
        c.on("data", () => c.end());
        c.on("close", () => resolve());
        c.on("error", () => resolve());
      });
    }
    await clock.sleep(ms);
  };
  const r = await runCli(["run"], { cwd: move.dir, now: clock.now, sleep });
  expect(r.code).toBe(0);
  const out = await runCli(["report", "--out", "move.html"], { cwd: move.dir, now: clock.now });
  expect(out.code).toBe(0);
  const html = readFileSync(join(move.dir, "move.html"), "utf8");
  expect(html).not.toMatch(/<script|src=|href=/);
  const { dom } = await renderInChromium(join(move.dir, "move.html"), "move-report.png");
  expect(dom).toContain('<table id="timeline">');
  expect(dom.match(/<tr class="done">/g)?.length).toBe(7);
  expect(dom).toContain('<svg id="share-chart"');
  expect(dom).toContain('<svg id="relay-chart"');
  expect(dom).toMatch(
    /<td>www\.example\.com<\/td><td>A<\/td><td>198\.51\.100\.10 ttl 300<\/td><td>127\.0\.0\.1 ttl 300<\/td><td class="ok">applied/,
  );
  expect(dom).toMatch(/<table id="stale-clients">.*<td>127\.0\.0\.9<\/td>/s);
}, 60_000);
