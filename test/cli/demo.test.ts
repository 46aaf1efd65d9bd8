import { mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { layoutInChromium, renderInChromium } from "@cutover/testkit";
import { cutover, transcript } from "../_spawn.js";

const dir = mkdtempSync(join(tmpdir(), "cutover-demo-test-"));

/** A webhook receiver on loopback: the demo's notifications (docs/notifications.md). */
const events: Array<{ type: string; step?: { kind: string }; clients?: { arriving: number } }> = [];
const hook = createServer((req, res) => {
  let body = "";
  req.on("data", (d: Buffer) => (body += d.toString()));
  req.on("end", () => {
    events.push(JSON.parse(body) as (typeof events)[number]);
    res.writeHead(204).end();
  });
});

test("cutover demo: a whole move on loopback, zero failed requests, every step told to a webhook", async () => {
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/demo`;
  const r = await cutover(["demo", "--out", join(dir, "report.html"), "--notify", url], {
    cwd: dir,
    timeoutMs: 150_000,
  }).finally(() => hook.close());
  expect(r.code, transcript(r)).toBe(0);
  expect(r.stderr).toBe("");
  expect(r.stdout).toContain("the timeline is finished");
  const tally = /^visitors: (\d+) pages served, (\d+) failed \(old host (\d+), new host (\d+), relayed (\d+)\)$/m.exec(
    r.stdout,
  );
  expect(tally).not.toBeNull();
  const [, ok, failed, oldHost, newHost, relayed] = tally!.map(Number);
  // In a pipe: plain lines, no cursor movement or colour.
  expect(r.stdout).not.toContain("\x1b");
  // As root (CI) the demo hands over with nftables redirect: not one request may fail.
  expect({ failed, last: /last failure: .*/.exec(r.stdout)?.[0] }).toEqual({ failed: 0, last: undefined });
  expect(oldHost).toBeGreaterThan(0);
  expect(newHost).toBeGreaterThan(0);
  expect(relayed).toBeGreaterThan(0); // the stale visitor reached the new host through the relay
  expect(ok).toBe(oldHost! + newHost!);
  expect(r.stdout).toMatch(/handover: done \((redirect|rebind, gap \d+ ms); stopped \d+\)/);
  // The webhook heard the whole move: each step's start and end in order, the stale visitor, the end.
  const seen = events.map((e) => `${e.type}${e.step ? `:${e.step.kind}` : ""}`);
  for (const kind of ["lower", "handover", "swap", "watch", "drain", "restore"]) {
    expect(seen, kind).toContain(`step.started:${kind}`);
    expect(seen, kind).toContain(`step.done:${kind}`);
  }
  expect(seen.indexOf("step.done:lower")).toBeLessThan(seen.indexOf("step.started:swap"));
  expect(seen.indexOf("step.done:swap")).toBeLessThan(seen.indexOf("step.started:restore"));
  expect(seen.at(-1)).toBe("move.finished");
  expect(events.some((e) => e.type === "relay.clients" && e.clients!.arriving > 0)).toBe(true);
  expect(seen).not.toContain("step.failed:swap");
}, 200_000);

test("the demo's report is self-contained and renders in Chromium", async () => {
  const html = readFileSync(join(dir, "report.html"), "utf8");
  expect(html).not.toMatch(/<script|src=|href=/);
  const { dom } = await renderInChromium(join(dir, "report.html"), "demo-report.png");
  expect(dom.match(/<tr class="done">/g)?.length).toBe(7);
  expect(dom).toContain('<svg id="lane-chart"');
  expect(dom).toMatch(/<table id="stale-clients">.*<td>127\.0\.0\.1<\/td>/s);
  // The headline carries the demo's result and how long the world took to move.
  expect(dom).toMatch(/<li class="extra">\d+ pages served, 0 failed \(through the relay \d+\)<\/li>/);
  expect(dom).toMatch(/The world had moved<\/b> \S+ after the swap/);
  for (const width of [1280, 560]) {
    const l = await layoutInChromium(join(dir, "report.html"), width, `demo-report-${width}.png`);
    expect(l.pageOverflows).toBe(false);
    expect(l.overflows).toEqual([]);
    expect(l.charts.length).toBe(2);
    for (const c of l.charts) expect(c.span, `${c.id} at ${width}px`).toBeGreaterThan(0.8);
  }
}, 200_000);
