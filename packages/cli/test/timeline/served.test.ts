import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startKnot, zoneText, type KnotServer } from "@cutover/testkit";
import { runCli } from "../_run.js";

/**
 * A DNS step is done when the zone's authoritative servers serve its change: a real Knot serves the zone
 * file the plan's zonefile provider writes, and the plan's reload command "succeeds" without reloading
 * (a reload that did nothing, a server that kept the old zone). The step reads the change back from Knot,
 * says which server serves what, and is not done until Knot serves it.
 */

let knot: KnotServer;
let dir: string;

beforeAll(async () => {
  knot = await startKnot({
    "example.com": zoneText("example.com", [
      { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 },
      { name: "www", type: "A", content: "198.51.100.11", ttl: 3600 },
    ]),
  });
  dir = mkdtempSync(join(tmpdir(), `cutover-served-${process.pid}-`));
  const at = `127.0.0.1:${knot.port}`;
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: served-test
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns:
  provider: zonefile
  zones: [example.com]
  files: { example.com: ${knot.zoneFile("example.com")} }
  reload: "true {zone}"
  lowTtl: 300
schedule:
  swapAt: 2027-12-01T14:00:00Z
  margin: 1h
propagation:
  resolvers: [${at}]
  authoritative:
    parent: false
    bootstrap: ${at}
    nsAddresses: { ns1.example.com: ["${at}"] }
`,
  );
}, 60_000);

afterAll(async () => {
  await knot?.stop();
});

test("the lower is done only once the authoritative server serves the lowered RRset", async () => {
  // The lower is due at 12:00 (swap - old TTL 1h - margin 1h).
  const first = await runCli(["tick"], { cwd: dir, now: new Date("2027-12-01T12:00:00Z") });
  // Not done, retried by the next tick (a retry is not the end of the step: exit 0, "next:" said).
  expect(first.code).toBe(0);
  const said = first.stdout + first.stderr;
  // Written to the file, but Knot still serves the old TTL: the step says which server serves what.
  expect(readFileSync(knot.zoneFile("example.com"), "utf8")).toMatch(/www\s+300\s+IN\s+A\s+198\.51\.100\.11/);
  expect(said).toContain("lower: attempt 1 failed (lower failed: written, but not served yet");
  expect(said).toMatch(
    new RegExp(
      `ns1\\.example\\.com \\(127\\.0\\.0\\.1:${knot.port}\\) serves www\\.example\\.com A 198\\.51\\.100\\.10, 198\\.51\\.100\\.11 ttl 3600, expected 198\\.51\\.100\\.10, 198\\.51\\.100\\.11 ttl 300`,
    ),
  );
  const state = () => JSON.parse(readFileSync(join(dir, ".cutover/served-test/state.json"), "utf8"));
  expect(state().steps.lower.status).not.toBe("done");

  // The next tick still finds Knot serving the old zone: not done.
  const second = await runCli(["tick"], { cwd: dir, now: new Date("2027-12-01T12:05:00Z") });
  expect(second.stdout).toContain("written, but not served yet");
  expect(state().steps.lower.status).not.toBe("done");

  // Once the server has loaded the zone, the next tick finds the change served and the step is done.
  await knot.knotc("-b", "zone-reload", "example.com");
  const third = await runCli(["tick"], { cwd: dir, now: new Date("2027-12-01T12:15:00Z") });
  expect(third.stderr).toBe("");
  expect(third.code).toBe(0);
  expect(third.stdout).toContain("lower: served by 1 authoritative server");
  expect(state().steps.lower.status).toBe("done");
  expect(state().steps.lower.result.servedBy).toEqual([`ns1.example.com 127.0.0.1:${knot.port}`]);
}, 60_000);
