import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM = "/usr/bin/chromium";
// The repository's artifacts/ folder (gitignored): screenshots kept for a person to look at.
const artifacts = new URL("../../../artifacts/", import.meta.url).pathname;

/**
 * Runs Chromium in a process group of its own and returns what it printed. At the time limit the whole
 * group is killed: Chromium's helpers (zygote, renderer) hold its output pipes, so killing the main
 * process alone (execFile's timeout) can leave the caller waiting for ever.
 */
function runChromium(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone already
      }
      setTimeout(() => finish(null), 1000);
    }, timeoutMs);
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      if (code === 0 && !timedOut) resolve(stdout);
      else
        reject(
          new Error(
            `chromium ${timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${code}`}; its last output:\n${stderr}`,
          ),
        );
    };
    child.on("error", reject);
    child.on("close", (code) => finish(code));
  });
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
