import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startKnot, zoneText, type KnotServer } from "@cutover/testkit";
import { runCli } from "../../_run.js";

/**
 * A `dns` verb is done when the zone's authoritative servers serve its change, as the timeline's steps are:
 * a real Knot serves the zone file the plan's zonefile provider writes, and the plan's reload command
 * "succeeds" without reloading. The verb writes, reads back from the file, then asks Knot, and says which
 * server serves what until Knot has loaded the change.
 */

let knot: KnotServer;
let dir: string;

beforeAll(async () => {
  knot = await startKnot({
    "example.com": zoneText("example.com", [
      { name: "www", type: "A", content: "198.51.100.10", ttl: 3600 },
      { name: "mail", type: "A", content: "192.0.2.25", ttl: 3600 },
    ]),
  });
  dir = mkdtempSync(join(tmpdir(), `cutover-dns-served-${process.pid}-`));
  const at = `127.0.0.1:${knot.port}`;
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: dns-served
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns:
  provider: zonefile
  zones: [example.com]
  files: { example.com: ${knot.zoneFile("example.com")} }
  reload: "true {zone}"
  lowTtl: 300
schedule:
  swapAt: 2036-12-01T14:00:00Z
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

test("dns lower-ttl: written but not served is exit 1 with what the server serves; once served, done", async () => {
  const first = await runCli(["dns", "lower-ttl", "--wait-served", "1s", "--json"], { cwd: dir });
  expect(first.code).toBe(1);
  expect(readFileSync(knot.zoneFile("example.com"), "utf8")).toMatch(/www\s+300\s+IN\s+A\s+198\.51\.100\.10/);
  const j = JSON.parse(first.stdout);
  expect(j.complete).toBe(true); // the provider has it
  expect(j.served.served).toBe(false);
  expect(j.served.problems).toEqual([
    `ns1.example.com (127.0.0.1:${knot.port}) serves www.example.com A 198.51.100.10 ttl 3600, expected 198.51.100.10 ttl 300`,
  ]);
  expect(first.stderr).toContain("written but not served yet by every authoritative server");

  const text = await runCli(["dns", "lower-ttl", "--wait-served", "0"], { cwd: dir });
  expect(text.code).toBe(1);
  expect(text.stdout).toMatch(/not served ns1\.example\.com .* serves www\.example\.com A 198\.51\.100\.10 ttl 3600/);

  // The server loads the zone: the same command writes nothing more and is done.
  await knot.knotc("-b", "zone-reload", "example.com");
  const again = await runCli(["dns", "lower-ttl", "--json"], { cwd: dir });
  expect(again.stderr).toBe("");
  expect(again.code).toBe(0);
  const k = JSON.parse(again.stdout);
  expect(k.changes).toEqual([]); // nothing more to write: the earlier run's change is checked again
  expect(k.served).toEqual({
    served: true,
    servers: [`ns1.example.com 127.0.0.1:${knot.port}`],
    problems: [],
    notes: [],
  });
  const plain = await runCli(["dns", "lower-ttl"], { cwd: dir });
  expect(plain.stdout).toContain("nothing to do in example.com (zonefile); served by 1 authoritative server(s)");

  const bad = await runCli(["dns", "swap", "--wait-served", "soon"], { cwd: dir });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--wait-served soon: give a duration");
}, 60_000);
