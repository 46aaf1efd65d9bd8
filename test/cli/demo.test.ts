import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { renderInChromium } from "@cutover/testkit";
import { cutover, transcript } from "../_spawn.js";

const dir = mkdtempSync(join(tmpdir(), "cutover-demo-test-"));

test("cutover demo: a whole move on loopback, zero failed requests", async () => {
  const r = await cutover(["demo", "--out", join(dir, "report.html")], { cwd: dir, timeoutMs: 150_000 });
  expect(r.code, transcript(r)).toBe(0);
  expect(r.stderr).toBe("");
  expect(r.stdout).toContain("the timeline is finished");
  const tally =
    /^visitors: (\d+) pages served \(old host (\d+), new host (\d+), through the relay (\d+)\), (\d+) failed$/m.exec(
      r.stdout,
    );
  expect(tally).not.toBeNull();
  const [, ok, oldHost, newHost, relayed, failed] = tally!.map(Number);
  // As root (CI) the demo hands over with nftables redirect: not one request may fail.
  expect({ failed, last: /last failure: .*/.exec(r.stdout)?.[0] }).toEqual({ failed: 0, last: undefined });
  expect(oldHost).toBeGreaterThan(0);
  expect(newHost).toBeGreaterThan(0);
  expect(relayed).toBeGreaterThan(0); // the stale visitor reached the new host through the relay
  expect(ok).toBe(oldHost! + newHost!);
  expect(r.stdout).toMatch(/handover: done \((redirect|rebind, gap \d+ ms); stopped \d+\)/);
}, 200_000);

test("the demo's report is self-contained and renders in Chromium", async () => {
  const html = readFileSync(join(dir, "report.html"), "utf8");
  expect(html).not.toMatch(/<script|src=|href=/);
  const { dom } = await renderInChromium(join(dir, "report.html"), "demo-report.png");
  expect(dom.match(/<tr class="done">/g)?.length).toBe(7);
  expect(dom).toContain('<svg id="share-chart"');
  expect(dom).toMatch(/<table id="stale-clients">.*<td>127\.0\.0\.1<\/td>/s);
}, 200_000);
