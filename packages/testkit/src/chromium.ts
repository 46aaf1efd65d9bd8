import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const CHROMIUM = "/usr/bin/chromium";
// The repository's artifacts/ folder (gitignored): screenshots kept for a person to look at.
const artifacts = new URL("../../../artifacts/", import.meta.url).pathname;

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
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    `--user-data-dir=${join(dir, "profile")}`,
  ];
  try {
    const { stdout } = await run(CHROMIUM, [...flags, "--dump-dom", `file://${file}`], {
      timeout: 60_000,
      maxBuffer: 8 << 20,
    });
    await mkdir(artifacts, { recursive: true });
    const screenshot = join(artifacts, screenshotName);
    await rm(screenshot, { force: true });
    await run(CHROMIUM, [...flags, "--window-size=1100,1400", `--screenshot=${screenshot}`, `file://${file}`], {
      timeout: 60_000,
    });
    return { dom: stdout, screenshot };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
