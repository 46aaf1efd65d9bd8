import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { layoutInChromium, renderInChromium } from "@cutover/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { renderPropagationHtml, renderShareChart } from "../../src/propagation/html.js";
import type { QueryResult } from "../../src/propagation/query.js";
import { parseResolverList } from "../../src/propagation/servers.js";
import { createPropagationWatch } from "../../src/propagation/watch.js";
import type { ServerSpec } from "@cutover/core";

/** A report from real rounds over a scripted network: one resolver flips to NEW after 20 s. */
async function sampleReport(options: { oldTtl?: number; labels?: boolean } = {}) {
  let t = Date.parse("2026-12-01T14:00:00Z");
  const send = async (server: ServerSpec, name: string, type: string): Promise<QueryResult> => {
    const stale = server.label.endsWith(":5302") && t < Date.parse("2026-12-01T14:00:20Z");
    return {
      server: server.label,
      name,
      type,
      transport: "udp",
      elapsedMs: 1,
      attempts: 1,
      truncatedRetry: false,
      response: {
        rcode: "NOERROR",
        aa: false,
        tc: false,
        rd: true,
        ra: true,
        answers: [{ name, type: "A", ttl: stale ? 20 : 300, data: stale ? "198.51.100.10" : "203.0.113.20" }],
        authorities: [],
        additionals: [],
      },
    };
  };
  const watch = createPropagationWatch({
    names: ["www.example.test"],
    expect: ["203.0.113.20"],
    old: ["198.51.100.10"],
    resolvers: [
      ...parseResolverList(
        ["127.0.0.1:5301", "127.0.0.1:5302"],
        "public",
        options.labels
          ? {
              "127.0.0.1:5301": { operator: "Office resolver", location: "Berlin" },
              "127.0.0.1:5302": { operator: "ISP cache with a rather long name", location: "Lisbon" },
            }
          : {},
      ),
      ...parseResolverList(["127.0.0.2:5301"], "doh"),
    ],
    authoritative: false,
    changedAt: Date.parse("2026-12-01T13:59:50Z"),
    oldTtl: options.oldTtl ?? 60,
    intervalMs: 10_000,
    now: () => t,
    sleep: async (ms) => void (t += ms),
    send,
  });
  return watch.run({ timeoutMs: 120_000 });
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("renderPropagationHtml", () => {
  it("is one self-contained page with the chart, tables and bound", async () => {
    const report = await sampleReport();
    const html = renderPropagationHtml(report, {
      atlas: { probes: 3, countries: [{ country: "DE", probes: 3, newCount: 2, old: 1, other: 0 }] },
    });
    expect(html).not.toMatch(/<script|src=|href=/);
    expect(html.match(/class="series"/g)?.length).toBe(2);
    expect(html).toContain('<b id="bound">2026-12-01T14:00:50Z</b>');
    expect(html).toContain("<td>DE</td>");
    expect(html).toContain("✓ propagated");
  });

  it("renders in headless Chromium with the chart present (screenshot kept in artifacts/)", async () => {
    const report = await sampleReport();
    const dir = await mkdtemp(join(tmpdir(), "cutover-html-"));
    dirs.push(dir);
    const file = join(dir, "report.html");
    await writeFile(file, renderPropagationHtml(report));
    const { dom, screenshot: shot } = await renderInChromium(file, "propagation-report.png");
    // The browser parsed the page and kept the inline SVG chart with one line per source group.
    expect(dom).toContain('<svg id="share-chart"');
    expect(dom.match(/<polyline class="series"/g)?.length).toBe(2);
    expect(dom).toContain("DNS propagation: www.example.test");
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    expect((await readFile(shot)).subarray(1, 4).toString()).toBe("PNG");
  }, 90_000);

  it("the chart's time axis fits the rounds, not a bound a day away; labels and places are shown (Chromium layout)", async () => {
    // An old TTL of a day puts the bound at swap + 24 h while the rounds span a minute or two: the axis
    // must still give the rounds the chart's width (it ran to the bound, squeezing them into a corner).
    const report = await sampleReport({ oldTtl: 86_400, labels: true });
    const svg = renderShareChart(report);
    const xs = [...svg.matchAll(/points="([^"]*)"/g)].flatMap((m) =>
      m[1]!.split(" ").map((p) => Number(p.split(",")[0])),
    );
    const area = /data-plot-area="1" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/.exec(svg)!;
    expect((Math.max(...xs) - Math.min(...xs)) / Number(area[2])).toBeGreaterThan(0.9);
    expect(svg).toMatch(/bound 2026-12-02T13:59:50Z →/);
    const dir = await mkdtemp(join(tmpdir(), "cutover-html-"));
    dirs.push(dir);
    const file = join(dir, "labelled.html");
    const html = renderPropagationHtml(report);
    expect(html).toContain("<td>Office resolver, Berlin</td>");
    expect(html).toMatch(/<table id="by-location">.*<td>Berlin<\/td><td>127\.0\.0\.1:5301<\/td><td>1\/1<\/td>/s);
    await writeFile(file, html);
    for (const width of [1100, 560]) {
      const l = await layoutInChromium(file, width, `propagation-report-${width}.png`);
      expect(l.pageOverflows, `page wider than ${width}px`).toBe(false);
      expect(l.overflows).toEqual([]);
      expect(l.charts.map((c) => c.chart)).toEqual(["share"]);
      expect(l.charts[0]!.inside).toBe(true);
      expect(l.charts[0]!.span, `at ${width}px`).toBeGreaterThan(0.8);
    }
  }, 120_000);
});
