import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startKnotBehindUnbound, type KnotBehindUnbound, type Unbound } from "@cutover/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../_run.js";

/**
 * `cutover propagation --type` through real servers: Knot serves the zone, one Unbound cached the old
 * records before the move, another asks only after it.
 */

const OLD_SPF = "v=spf1 ip4:198.51.100.10 -all";
const NEW_SPF = "v=spf1 ip4:198.51.100.10 ip4:203.0.113.20 -all";
const zone = (serial: number, moved: boolean) => `$ORIGIN example.test.
$TTL 3600
@ 3600 IN SOA ns1.example.test. hostmaster.example.test. ${serial} 3600 600 604800 2
@ 3600 IN NS ns1.example.test.
ns1 3600 IN A 127.0.0.1
@ 3600 IN MX 10 ${moved ? "mx.new-host.net." : "mx.old-host.net."}
@ 3600 IN TXT "google-site-verification=abc123"
@ 3600 IN TXT "${moved ? NEW_SPF : OLD_SPF}"
web 3600 IN CNAME ${moved ? "new-host.example.net." : "old-host.example.net."}
`;

let servers: KnotBehindUnbound;
let stale: Unbound;
let fresh: Unbound;

beforeAll(async () => {
  servers = await startKnotBehindUnbound({ "example.test": zone(1, false) });
  [stale, fresh] = servers.resolvers as [Unbound, Unbound];
  // The stale resolver caches the old MX, TXT and CNAME; then the zone moves.
  for (const [name, type] of [
    ["example.test", "MX"],
    ["example.test", "TXT"],
    ["web.example.test", "CNAME"],
  ] as const) {
    const r = await runCli(["propagation", name, "--expect", `${type}=x.invalid`, "--type", type, ...quiet(stale)]);
    expect(r.code, r.stderr).toBe(1);
  }
  await servers.replaceZone("example.test", zone(2, true));
}, 60_000);

afterAll(async () => {
  await servers?.stop();
});

const quiet = (...rs: Unbound[]) => ["--resolvers", rs.map((r) => r.address).join(","), "--no-authoritative"];
const labels = () => ["--label", `${stale.address}=ISP cache@Berlin`, "--label", `${fresh.address}=Office@Lisbon`];
const now = new Date("2027-12-01T14:00:00Z");

describe("cutover propagation --type", () => {
  it("--type MX,TXT: the resolver that cached the old answers is named OLD with who runs it and where", async () => {
    const r = await runCli(
      [
        "propagation",
        "example.test",
        "--type",
        "MX,TXT",
        "--expect",
        "MX=10 mx.new-host.net",
        "--expect",
        `TXT=${NEW_SPF}`,
        "--old",
        "MX=10 mx.old-host.net",
        "--old",
        `TXT=${OLD_SPF}`,
        ...quiet(stale, fresh),
        ...labels(),
      ],
      { now },
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`OLD ${stale.address} (ISP cache, Berlin) example.test MX: 10 mx.old-host.net ttl `);
    expect(r.stdout).toContain(`OLD ${stale.address} (ISP cache, Berlin) example.test TXT: "${OLD_SPF}" ttl `);
    expect(r.stdout).toContain(`NEW ${fresh.address} (Office, Lisbon) example.test MX: 10 mx.new-host.net ttl `);
    expect(r.stdout).toContain("not yet propagated");
  });

  it("--json carries each target's type, answer, operator and location; the fresh resolver is propagated", async () => {
    const r = await runCli(
      [
        "propagation",
        "example.test",
        "web.example.test",
        "--type",
        "CNAME",
        "--expect",
        "CNAME=new-host.example.net",
        ...quiet(fresh),
        ...labels(),
        "--json",
      ],
      { now },
    );
    // example.test has no CNAME: that name answers NODATA, which is not the expected target (one round only).
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    const web = report.latest.targets.find((t: { name: string }) => t.name === "web.example.test");
    expect(web).toMatchObject({
      type: "CNAME",
      status: "NEW",
      operator: "Office",
      location: "Lisbon",
    });
    expect(web.observations[0].addresses).toEqual(["new-host.example.net"]);
    const ok = await runCli(
      ["propagation", "web.example.test", "--expect", "CNAME=new-host.example.net", ...quiet(fresh), "--json"],
      { now },
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ propagated: true, types: ["CNAME"] });
  });

  it("--report shows the types' values and a table by location", async () => {
    const html = join(servers.knot.dir, "types.html"); // removed with the servers
    const r = await runCli(
      [
        "propagation",
        "example.test",
        "--expect",
        "MX=mx.new-host.net",
        ...quiet(stale, fresh),
        ...labels(),
        "--report",
        html,
      ],
      { now },
    );
    expect(r.code).toBe(1);
    const page = await readFile(html, "utf8");
    expect(page).toContain("MX mx.new-host.net expected");
    expect(page).toMatch(
      /<td>ISP cache, Berlin<\/td><td>example\.test MX<\/td><td>OLD<\/td><td>10 mx\.old-host\.net<\/td>/,
    );
    expect(page).toMatch(
      /<table id="by-location">.*<td>Berlin<\/td><td>[^<]+<\/td><td>0\/1<\/td>.*<td>Lisbon<\/td><td>[^<]+<\/td><td>1\/1<\/td>/s,
    );
  });

  it("bad types and values are bad usage (exit 2) with what to write", async () => {
    const cases: Array<[string[], string]> = [
      [
        ["--type", "MX", "--expect", "203.0.113.20"],
        'error: --type MX: say what MX should be, e.g. --expect "MX=10 mail.example.net"',
      ],
      [["--type", "SRV", "--expect", "203.0.113.20"], "error: --type SRV: give A, AAAA, MX, TXT, CNAME, NS"],
      [["--expect", "MX=10 192.0.2.1"], "the exchange is a host name, not an address"],
      [["--expect", "MX=99999 mx.example.net"], "the preference is a number 0..65535"],
      [["--expect", "CNAME=not a name"], "not a host name"],
      [["--expect", "SOA=x"], "SOA is not a type propagation checks"],
      [["--expect", "MX=a.example", "--old", "NS=ns.example"], "--old NS=...: say what NS should be now too"],
      [["--expect", "203.0.113.20", "--label", "nonsense"], "--label nonsense: write SERVER=OPERATOR@LOCATION"],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(["propagation", "example.test", ...args, "--resolvers", fresh.address], { now });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toContain("    at ");
    }
  });
});
