import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { renderTerminal, startInPty, type Screen } from "@cutover/testkit";
import { CLI } from "../_spawn.js";

// `cutover demo` as a user sees it in a terminal: the real CLI in a pseudo-terminal, its bytes rendered by a
// terminal emulator (xterm.js), and the final screen checked, scrollback included.
const dir = mkdtempSync(join(tmpdir(), "cutover-live-test-"));
const ROWS = 40;
const STEP = /^[✓→·▶✗–] T[-+0]/;
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`); // a colour or style

function demoInPty(cols: number, env: Record<string, string>) {
  return startInPty(process.execPath, [CLI, "demo", "--out", join(dir, `report-${cols}.html`)], {
    cols,
    rows: ROWS,
    timeoutMs: 150_000,
    cwd: dir,
    env: { ...process.env, NO_COLOR: "", ...env },
  });
}

/** What every frame of the view must leave behind: no wrapped row, one header, each step once, events above. */
function checkScreen(s: Screen, cols: number, transcript: string): { header: number } {
  const why = `${cols} columns, the final screen:\n${s.rows.join("\n")}\n--- raw tail:\n${transcript.slice(-2000)}`;
  expect(s.wrapped, why).toEqual([]); // no line was longer than the terminal
  for (const r of s.rows) expect(r.length, why).toBeLessThanOrEqual(cols);
  // A stale frame (a redraw that did not go back far enough, or left lines behind) shows as a second header.
  const headers = s.rows.flatMap((r, i) => (/^demo(-\d+)? {2}\d{4}-\d\d-\d\d \d\d:\d\dZ$/.test(r) ? [i] : []));
  expect(headers.length, why).toBe(1);
  const header = headers[0]!;
  const steps = s.rows.filter((r) => STEP.test(r));
  expect(steps.length, why).toBe(7);
  expect(
    s.rows.slice(header + 1, header + 8).every((r) => STEP.test(r)),
    why,
  ).toBe(true);
  // Events scroll above the view, each once.
  const journal = s.rows.findIndex((r) => r.includes("journal started in"));
  expect(journal, why).toBeGreaterThan(-1);
  expect(journal, why).toBeLessThan(header);
  expect(s.rows.filter((r) => /lower: 2 changed/.test(r)).length, why).toBe(1);
  return { header };
}

test("the demo's live view at 80 columns: every line fits, the final screen is exact, NO_COLOR is plain", async () => {
  const run = demoInPty(80, { NO_COLOR: "1" });
  const r = await run.done;
  expect(r.code, r.output.slice(-3000)).toBe(0);
  expect(r.output).not.toMatch(SGR); // NO_COLOR: cursor movement only, no colour
  const s = await renderTerminal(r.output, 80, ROWS);
  const { header } = checkScreen(s, 80, r.output);
  expect(
    s.rows.slice(header + 1, header + 8).every((l) => l.startsWith("✓ ")),
    s.rows.join("\n"),
  ).toBe(true);
  const events = s.rows.slice(0, header).join("\n");
  const order = [
    "lower: 2 changed",
    "handover: done",
    "swap: 2 changed",
    "restore: 2 changed",
    "the timeline is finished",
  ];
  const at = order.map((e) => events.indexOf(e));
  expect(
    at.every((i) => i >= 0),
    events,
  ).toBe(true);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
  // After the view: the result, and the teardown.
  const after = s.rows.slice(header + 8).join("\n");
  // (demo.test.ts holds the demo to 0 failed requests; here only the screen is judged.)
  expect(after).toMatch(/^visitors: \d+ pages served, \d+ failed/m);
  expect(after).toMatch(/^removed \/\S+cutover-demo-/m);
});

test("Ctrl-C (SIGINT) mid-run at 120 columns: exit 130, the view stops cleanly, nothing is left behind", async () => {
  const run = demoInPty(120, {});
  await run.waitFor(/handover: done/); // the relay holds the old address, its redirect is in place
  const pid = await run.pid;
  const port = /answers on (\d+)/.exec(run.output())?.[1];
  const demoDir = /plan and journal in (\S+);/.exec(run.output())?.[1];
  expect(port).toBeDefined();
  expect(demoDir).toBeDefined();
  process.kill(pid, "SIGINT"); // to the CLI alone: what it started must be stopped by it, not by the signal
  const r = await run.done;
  expect(r.timedOut).toBe(false);
  expect(r.code, r.output.slice(-3000)).toBe(130);
  expect(r.output).toMatch(SGR); // colour on a terminal (the 80-column run shows NO_COLOR off)
  const s = await renderTerminal(r.output, 120, ROWS);
  const { header } = checkScreen(s, 120, r.output);
  const after = s.rows.slice(header + 8).join("\n");
  expect(s.rows.slice(0, header).join("\n")).toContain("stopped; tearing the demo down");
  expect(after).toMatch(/^stopped the relay \(and its (redirect|listener)\), the web services, the DNS server$/m);
  expect(after).toContain(`removed ${demoDir}`);
  // Nothing left behind: the directory, the relay and web processes, the redirect, the listeners.
  expect(existsSync(demoDir!)).toBe(false);
  const left = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ");
        return cmd.includes(demoDir!) || cmd.includes(`s.listen(${port},`) ? [`${p}: ${cmd.slice(0, 200)}`] : [];
      } catch {
        return [];
      }
    });
  expect(left).toEqual([]);
  let ruleset = "";
  try {
    ruleset = execFileSync("nft", ["list", "ruleset"], { encoding: "utf8" });
  } catch {
    // no nftables here: the demo used rebind, which has no rules
  }
  expect(ruleset).not.toMatch(new RegExp(`dport ${port}\\b`));
  for (const host of ["127.0.0.2", "127.0.0.3"]) {
    const refused = await new Promise<boolean>((resolve) => {
      const c = connect(Number(port), host);
      c.once("connect", () => (c.destroy(), resolve(false)));
      c.once("error", () => resolve(true));
    });
    expect(refused, `${host}:${port} still answers`).toBe(true);
  }
});
