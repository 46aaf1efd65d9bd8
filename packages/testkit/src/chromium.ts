import { mkdir, mkdtemp, rm } from "node:fs/promises";
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
