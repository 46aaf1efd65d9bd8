import { createConnection } from "node:net";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { fastClock, makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";
import { layoutInChromium, renderInChromium, type Layout } from "@cutover/testkit";

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

// In the future of the real clock too: the relay drains by its own clock at swap + 72 h.
const SWAP = "2027-12-01T14:00:00Z";

/** The rendered layout at a width: every chart's data spans most of its width, and no text overflows. */
function expectGoodLayout(l: Layout) {
  expect(l.pageOverflows, `page wider than ${l.width}px`).toBe(false);
  expect(l.overflows).toEqual([]);
  for (const c of l.charts) {
    expect(c.inside, `${c.id} draws outside its plot area`).toBe(true);
    expect(c.span, `${c.id} at ${l.width}px`).toBeGreaterThan(0.8);
  }
}

test("cutover report: one self-contained page of the whole move, rendered by headless Chromium", async () => {
  const move = await makeMoveDir({ swapAt: SWAP, resolverLabel: { operator: "Test DNS", location: "Loopback" } });
  cleanup.push(move.close);
  const clock = fastClock("2027-11-29T10:00:00Z");
  // A stale client arrives at the relay after the swap: the report must name it.
  let poked = false;
  const sleep = async (ms: number) => {
    const port = Number(/ports: \[(\d+)\]/.exec(readFileSync(join(move.dir, "cutover.yaml"), "utf8"))![1]);
    if (
      !poked &&
      clock.now().getTime() > Date.parse(SWAP) &&
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
  const dry = await runCli(["report", "--out", "move.html", "--dry-run", "--json"], { cwd: move.dir, now: clock.now });
  expect(dry.code).toBe(0);
  expect(JSON.parse(dry.stdout)).toMatchObject({ report: join(move.dir, "move.html"), dryRun: true });
  expect(existsSync(join(move.dir, "move.html"))).toBe(false);
  const out = await runCli(["report", "--out", "move.html"], { cwd: move.dir, now: clock.now });
  expect(out.code).toBe(0);
  const html = readFileSync(join(move.dir, "move.html"), "utf8");
  expect(html).not.toMatch(/<script|src=|href=/);
  // The watch's summary is a sentence of its own ("all new No cache ..." ran two together).
  expect(html).toMatch(/propagated[^<]*\. No cache may hold the old address after /);
  const { dom } = await renderInChromium(join(move.dir, "move.html"), "move-report.png");
  expect(dom).toContain('<table id="timeline">');
  expect(dom.match(/<tr class="done">/g)?.length).toBe(7);
  expect(dom).toContain('<svg id="lane-chart"');
  expect(dom).toContain('<svg id="relay-chart"');
  // The watch covered the SPF record the swap changed, and says who runs the resolver and where.
  expect(dom).toMatch(/Checked [^<]*example\.com TXT/);
  expect(dom).toMatch(
    /<text class="lane-label"[^>]*><title>127\.0\.0\.1:\d+, Test DNS, Loopback<\/title>127\.0\.0\.1:\d+ · Loopback<\/text>/,
  );
  expect(dom).toMatch(/<table id="by-location">.*<td>Loopback<\/td><td>1\/1<\/td>/s);
  expect(dom).toMatch(
    /<td>www\.example\.com<\/td><td>A<\/td><td>198\.51\.100\.10 ttl 300<\/td><td>127\.0\.0\.1 ttl 300<\/td><td class="ok">applied/,
  );
  expect(dom).toMatch(/<table id="stale-clients">.*<td>127\.0\.0\.9<\/td>/s);
  // The headline: what moved where, when the world had moved, the relay's clients, no failures.
  const headline = /<ul id="headline">(.*?)<\/ul>/s.exec(dom)![1]!;
  expect(headline).toMatch(
    /Moved<\/b> 10 records .* from <b>198\.51\.100\.10, 2001:db8:10::10<\/b> to <b>127\.0\.0\.1, 2001:db8::20<\/b>/,
  );
  expect(headline).toMatch(/The world had moved<\/b> \S+ after the swap \(2027-12-01 14:\d\d(:\d\d)?Z\)/);
  expect(headline).toMatch(/Relay<\/b> 1 connection carried to the new host from 1 client;/);
  expect(headline).toMatch(/Failures<\/b> none/);
  // One lane per resolver, and the layout holds at a desktop and a phone-like width.
  for (const width of [1280, 560]) {
    const l = await layoutInChromium(join(move.dir, "move.html"), width, `move-report-${width}.png`);
    expect(l.charts.map((c) => c.chart).sort()).toEqual(["propagation", "relay"]);
    expectGoodLayout(l);
  }
  // --tz shows the times in another zone; the journal stays UTC.
  const tz = await runCli(["report", "--out", "move-ny.html", "--tz", "America/New_York"], {
    cwd: move.dir,
    now: clock.now,
  });
  expect(tz.code).toBe(0);
  const ny = readFileSync(join(move.dir, "move-ny.html"), "utf8");
  expect(ny).toContain("2027-12-01 09:00 EST");
  expect(readFileSync(join(move.dir, ".cutover/move-test/events.jsonl"), "utf8")).not.toContain("EST");
  const bad = await runCli(["report", "--tz", "Mars/Olympus"], { cwd: move.dir, now: clock.now });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--tz Mars/Olympus: not a time zone");
}, 120_000);

test("a rolled-back move's report shows the rollback with every record put back", async () => {
  const move = await makeMoveDir({ swapAt: SWAP });
  cleanup.push(move.close);
  await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-29T10:00:00Z") });
  await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-30T13:00:10Z") });
  await runCli(["tick"], { cwd: move.dir, now: new Date("2027-12-01T14:00:10Z") });
  const rb = await runCli(["rollback"], { cwd: move.dir, now: new Date("2027-12-01T14:10:00Z") });
  expect(rb.code, rb.stderr).toBe(0);
  const out = await runCli(["report", "--out", "rb.html"], { cwd: move.dir, now: new Date("2027-12-01T14:11:00Z") });
  expect(out.code).toBe(0);
  const html = readFileSync(join(move.dir, "rb.html"), "utf8");
  expect(html).toContain('<h2 id="rollback">Rollback</h2>');
  expect(html).toMatch(
    /<table id="rollback-changes">.*<td>www\.example\.com<\/td><td>A<\/td><td>127\.0\.0\.1 ttl 300<\/td><td>198\.51\.100\.10 ttl 86400<\/td><td class="ok">applied/s,
  );
  expect(html).toMatch(/Rolled back<\/b> 2027-12-01 14:10Z/);
  const l = await layoutInChromium(join(move.dir, "rb.html"), 900, "rolled-back-report-900.png");
  expectGoodLayout(l);
}, 120_000);
