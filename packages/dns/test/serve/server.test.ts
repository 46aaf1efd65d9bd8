import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryDns } from "../../src/propagation/query.js";
import { startAuthoritativeServer, type AuthoritativeServer } from "../../src/serve/server.js";
import { parseServerSpec } from "@cutover/core";

const zoneText = (serial: number, www: string) => `$ORIGIN example.test.
$TTL 300
@   IN SOA ns1.example.test. hostmaster.example.test. ( ${serial} 3600 600 86400 60 )
@   IN NS ns1
@   IN NS ns2.other.test.
ns1 IN A 127.0.0.1
@   IN A 198.51.100.10
@   IN AAAA 2001:db8::10
www 120 IN A ${www}
web IN CNAME www
mail IN MX 10 mx.example.test.
mx  IN A 198.51.100.25
txt IN TXT "v=spf1 ip4:198.51.100.10 -all"
big IN TXT ${Array.from({ length: 8 }, (_, i) => `"${String(i).repeat(250)}"`).join(" ")}
a.b.deep IN A 192.0.2.9
*.wild IN A 192.0.2.77
sub IN NS ns.sub
ns.sub IN A 192.0.2.53
`;

let dir: string;
let server: AuthoritativeServer;
let file: string;
const logs: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cutover-serve-"));
  file = join(dir, "example.test.zone");
  await writeFile(file, zoneText(2026010101, "198.51.100.10"));
  server = await startAuthoritativeServer({
    zoneFiles: [file],
    listen: "127.0.0.1:0",
    pollMs: 50,
    onLog: (l) => logs.push(l),
  });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const ask = (name: string, type: string, opts = {}) =>
  queryDns(parseServerSpec(server.address), name, type, { rd: false, timeoutMs: 1000, ...opts });

describe("startAuthoritativeServer", () => {
  it("answers A and AAAA with AA set and the zone's TTLs, over UDP and TCP", async () => {
    for (const tcp of [false, true]) {
      const r = await ask("example.test", "A", { tcp });
      expect(r.transport).toBe(tcp ? "tcp" : "udp");
      expect(r.response).toMatchObject({ rcode: "NOERROR", aa: true, tc: false });
      expect(r.response?.answers).toEqual([{ name: "example.test", type: "A", ttl: 300, data: "198.51.100.10" }]);
    }
    const v6 = await ask("example.test", "AAAA");
    expect(v6.response?.answers[0]?.data).toBe("2001:db8::10");
    const www = await ask("www.example.test", "A");
    expect(www.response?.answers[0]?.ttl).toBe(120);
  });

  it("serves SOA, NS, MX, TXT and follows a CNAME inside the zone", async () => {
    const soa = await ask("example.test", "SOA");
    expect(soa.response?.answers[0]?.data).toBe(
      "ns1.example.test hostmaster.example.test 2026010101 3600 600 86400 60",
    );
    const ns = await ask("example.test", "NS");
    expect(ns.response?.answers.map((a) => a.data).sort()).toEqual(["ns1.example.test", "ns2.other.test"]);
    expect(ns.response?.additionals).toContainEqual({
      name: "ns1.example.test",
      type: "A",
      ttl: 300,
      data: "127.0.0.1",
    });
    const mx = await ask("mail.example.test", "MX");
    expect(mx.response?.answers[0]?.data).toBe("10 mx.example.test");
    const txt = await ask("txt.example.test", "TXT");
    expect(txt.response?.answers[0]?.data).toBe("v=spf1 ip4:198.51.100.10 -all");
    const cname = await ask("web.example.test", "A");
    expect(cname.response?.answers.map((a) => `${a.name} ${a.type} ${a.data}`)).toEqual([
      "web.example.test CNAME www.example.test",
      "www.example.test A 198.51.100.10",
    ]);
  });

  it("answers NXDOMAIN and NODATA with the SOA (negative TTL) in the authority section", async () => {
    const nx = await ask("nope.example.test", "A");
    expect(nx.response?.rcode).toBe("NXDOMAIN");
    expect(nx.response?.aa).toBe(true);
    expect(nx.response?.authorities).toEqual([expect.objectContaining({ name: "example.test", type: "SOA", ttl: 60 })]);
    const nodata = await ask("www.example.test", "AAAA");
    expect(nodata.response?.rcode).toBe("NOERROR");
    expect(nodata.response?.answers).toEqual([]);
    expect(nodata.response?.authorities[0]?.type).toBe("SOA");
    const ent = await ask("deep.example.test", "A");
    expect(ent.response?.rcode).toBe("NOERROR");
    const wild = await ask("anything.wild.example.test", "A");
    expect(wild.response?.answers[0]).toMatchObject({ name: "anything.wild.example.test", data: "192.0.2.77" });
  });

  it("refers delegated names without AA and refuses names outside its zones", async () => {
    const ref = await ask("host.sub.example.test", "A");
    expect(ref.response).toMatchObject({ rcode: "NOERROR", aa: false, answers: [] });
    expect(ref.response?.authorities).toEqual([
      { name: "sub.example.test", type: "NS", ttl: 300, data: "ns.sub.example.test" },
    ]);
    expect(ref.response?.additionals[0]?.data).toBe("192.0.2.53");
    const refused = await ask("example.org", "A");
    expect(refused.response?.rcode).toBe("REFUSED");
    expect(refused.response?.aa).toBe(false);
  });

  it("sets TC on a UDP answer over 1232 bytes, and the client retries over TCP", async () => {
    const r = await ask("big.example.test", "TXT");
    expect(r.truncatedRetry).toBe(true);
    expect(r.transport).toBe("tcp");
    expect(r.response?.answers[0]?.data.length).toBe(2000);
  });

  it("reloads when the zone file changes", async () => {
    await writeFile(file, zoneText(2026010102, "203.0.113.20"));
    for (let i = 0; i < 60; i++) {
      if (server.zones()[0]?.serial === 2026010102) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await ask("www.example.test", "A");
    expect(r.response?.answers[0]?.data).toBe("203.0.113.20");
    expect(logs.some((l) => l.includes("reloaded example.test serial 2026010102"))).toBe(true);
  });
});

it("reloads a change written at once after the start (before any poll)", async () => {
  const d = await mkdtemp(join(tmpdir(), "cutover-serve-early-"));
  const f = join(d, "example.test.zone");
  await writeFile(f, zoneText(2026010101, "198.51.100.10"));
  const s = await startAuthoritativeServer({ zoneFiles: [f], listen: "127.0.0.1:0", pollMs: 50 });
  try {
    await writeFile(f, zoneText(2026010109, "203.0.113.20"));
    for (let i = 0; i < 60 && s.zones()[0]?.serial !== 2026010109; i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.zones()[0]?.serial).toBe(2026010109);
  } finally {
    await s.close();
    await rm(d, { recursive: true, force: true });
  }
});
