import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBounded } from "./process.js";

export const CHROMIUM = "/usr/bin/chromium";
// The repository's artifacts/ folder (gitignored): screenshots kept for a person to look at.
const artifacts = new URL("../../../artifacts/", import.meta.url).pathname;

/** Runs Chromium (in a process group of its own, killed whole at the limit) and returns what it printed. */
async function runChromium(args: string[], timeoutMs: number): Promise<string> {
  const r = await runBounded(CHROMIUM, args, { timeoutMs, graceMs: 0 });
  if (r.code === 0 && !r.timedOut) return r.stdout;
  throw new Error(
    `chromium ${r.timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${r.code}`}; its last output:\n${r.stderr.slice(-4000)}`,
  );
}

/** Loads a local page in real headless Chromium: the DOM it parsed, and a screenshot kept in artifacts/. */
export async function renderInChromium(
  file: string,
  screenshotName: string,
): Promise<{ dom: string; screenshot: string }> {
  const dir = await mkdtemp(join(tmpdir(), "cutover-chromium-"));
  const flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    `--user-data-dir=${join(dir, "profile")}`,
  ];
  try {
    const dom = await runChromium([...flags, "--dump-dom", `file://${file}`], 60_000);
    await mkdir(artifacts, { recursive: true });
    const screenshot = join(artifacts, screenshotName);
    await rm(screenshot, { force: true });
    await runChromium([...flags, "--window-size=1100,1400", `--screenshot=${screenshot}`, `file://${file}`], 60_000);
    return { dom, screenshot };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the layout check measured at one window width. */
export interface Layout {
  width: number;
  /** The page is wider than the window (a horizontal scrollbar). */
  pageOverflows: boolean;
  /** Each chart (`svg[data-chart]`): how much of its plot area (`[data-plot-area]`) the plotted marks (`[data-plot]`) span, 0..1. */
  charts: Array<{ id: string; chart: string; span: number; inside: boolean; marks: number }>;
  /** Elements whose text does not fit them (wider than their box, or an SVG text outside its SVG), and SVG texts that overlap. */
  overflows: string[];
}

// Runs in the page: measures the rendered layout and leaves it as JSON in <pre id="cutover-layout">.
const MEASURE = `(() => {
  const vw = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.getAttribute("class") ? "." + el.getAttribute("class") : "") + ": " + (el.textContent || "").trim().slice(0, 60);
  const charts = [...document.querySelectorAll("svg[data-chart]")].map((svg) => {
    const area = svg.querySelector("[data-plot-area]").getBoundingClientRect();
    const marks = [...svg.querySelectorAll("[data-plot]")].map((e) => e.getBoundingClientRect());
    const left = Math.min(...marks.map((r) => r.left));
    const right = Math.max(...marks.map((r) => r.right));
    return { id: svg.id, chart: svg.dataset.chart, marks: marks.length, span: marks.length ? (right - left) / area.width : 0, inside: left >= area.left - 1 && right <= area.right + 1 };
  });
  const overflows = [];
  for (const el of document.body.querySelectorAll("h1,h2,h3,p,li,td,th,pre")) {
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 || r.right > vw + 1) overflows.push(name(el));
  }
  for (const svg of document.querySelectorAll("svg")) {
    const b = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll("text")];
    for (const t of texts) {
      const r = t.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1) overflows.push("svg text outside its chart: " + name(t));
    }
    const boxes = texts.map((t) => [t, t.getBoundingClientRect()]);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [ta, a] = boxes[i];
        const [tb, b] = boxes[j];
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
          overflows.push("overlapping texts in #" + svg.id + ": " + ta.textContent + " / " + tb.textContent);
      }
  }
  const pre = document.createElement("pre");
  pre.id = "cutover-layout";
  pre.textContent = JSON.stringify({ width: vw, pageOverflows: document.documentElement.scrollWidth > vw + 1, charts, overflows });
  document.body.appendChild(pre);
})();`;

/**
 * Loads a page in headless Chromium at a window width, measures its layout (see Layout) and keeps a
 * full-height screenshot at that width in artifacts/. The page itself is not changed: the measuring
 * script runs in a copy.
 */
export async function layoutInChromium(
  file: string,
  width: number,
  screenshotName: string,
): Promise<Layout & { screenshot: string }> {
  const dir = await mkdtemp(join(tmpdir(), "cutover-layout-"));
  const flags = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    `--user-data-dir=${join(dir, "profile")}`,
  ];
  try {
    const html = await readFile(file, "utf8");
    const copy = join(dir, "measure.html");
    await writeFile(copy, html.replace(/<\/body>/i, `<script>${MEASURE}</script></body>`));
    const dom = await runChromium([...flags, `--window-size=${width},1200`, "--dump-dom", `file://${copy}`], 60_000);
    const json = /<pre id="cutover-layout">([^<]*)<\/pre>/.exec(dom)?.[1];
    if (!json) throw new Error("the layout script did not run");
    const layout = JSON.parse(
      json
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&amp;/g, "&"),
    ) as Layout;
    await mkdir(artifacts, { recursive: true });
    const screenshot = join(artifacts, screenshotName);
    await rm(screenshot, { force: true });
    await runChromium(
      [...flags, `--window-size=${width},4800`, `--screenshot=${screenshot}`, `file://${file}`],
      60_000,
    );
    return { ...layout, screenshot };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
