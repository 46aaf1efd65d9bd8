import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as dnsPacket from "dns-packet";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyAnswer } from "../../src/propagation/classify.js";
import { encodeQuery, queryDns } from "../../src/propagation/query.js";
import { parseServerSpec } from "@cutover/core";

/** A UDP server on loopback whose reply is computed by the test (or absent: a black hole). */
async function fakeUdp(reply: (query: Buffer) => Buffer | undefined): Promise<{ sock: Socket; spec: string }> {
  const sock = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  sock.on("message", (m, rinfo) => {
    const out = reply(m);
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  return { sock, spec: `127.0.0.1:${sock.address().port}` };
}

const respond = (query: Buffer, rcode: number, answers: dnsPacket.Answer[] = []) => {
  const q = dnsPacket.decode(query);
  return dnsPacket.encode({
    type: "response",
    id: q.id ?? 0,
    flags: dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: q.questions ?? [],
    answers,
  });
};

const servers: Socket[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});
async function serverWith(reply: (query: Buffer) => Buffer | undefined) {
  const f = await fakeUdp(reply);
  servers.push(f.sock);
  return parseServerSpec(f.spec);
}
const expectation = { expect: ["203.0.113.20"], old: ["198.51.100.10"] };

describe("parseServerSpec", () => {
  it("accepts IPs, ip:port, [v6]:port and URLs, and names its mistakes", () => {
    expect(parseServerSpec("9.9.9.9")).toEqual({ kind: "dns", host: "9.9.9.9", port: 53, label: "9.9.9.9" });
    expect(parseServerSpec("127.0.0.1:5353")).toMatchObject({ host: "127.0.0.1", port: 5353 });
    expect(parseServerSpec("::1")).toMatchObject({ host: "::1", port: 53 });
    expect(parseServerSpec("[::1]:5353")).toMatchObject({ host: "::1", port: 5353, label: "[::1]:5353" });
    expect(parseServerSpec("https://dns.google/dns-query")).toMatchObject({ kind: "doh" });
    expect(() => parseServerSpec("dns.google")).toThrow(/not an IP address/);
    expect(() => parseServerSpec("1.2.3.4:99999")).toThrow(/out of range/);
  });
});

describe("queryDns", () => {
  it("sends RD as asked and EDNS0 with a 1232-byte payload", async () => {
    const seen: dnsPacket.DecodedPacket[] = [];
    const s = await serverWith((m) => {
      seen.push(dnsPacket.decode(m));
      return respond(m, 0);
    });
    await queryDns(s, "example.test", "A", { rd: true });
    await queryDns(s, "example.test", "A", { rd: false });
    expect(seen.map((p) => p.flag_rd)).toEqual([true, false]);
    const opt = seen[0]?.additionals?.find((a) => a.type === "OPT") as dnsPacket.OptAnswer;
    expect(opt.udpPayloadSize).toBe(1232);
  });

  it("times out, retries once, and classifies the silence as ERROR", async () => {
    let asked = 0;
    const s = await serverWith(() => {
      asked++;
      return undefined;
    });
    const r = await queryDns(s, "example.test", "A", { timeoutMs: 100, retries: 1 });
    expect(asked).toBe(2);
    expect(r.error?.kind).toBe("timeout");
    expect(r.attempts).toBe(2);
    expect(classifyAnswer(r, expectation).status).toBe("ERROR");
  });

  it("classifies REFUSED and SERVFAIL as ERROR with the RCODE", async () => {
    for (const [code, name] of [
      [5, "REFUSED"],
      [2, "SERVFAIL"],
    ] as const) {
      const s = await serverWith((m) => respond(m, code));
      const o = classifyAnswer(await queryDns(s, "example.test", "A"), expectation);
      expect(o).toMatchObject({ status: "ERROR", rcode: name, error: name });
    }
  });

  it("ignores an answer with the wrong id and waits for the right one", async () => {
    const s = await serverWith((m) => {
      const q = dnsPacket.decode(m);
      return dnsPacket.encode({
        type: "response",
        id: ((q.id ?? 0) + 1) % 65536,
        flags: 0,
        questions: q.questions ?? [],
      });
    });
    const r = await queryDns(s, "example.test", "A", { timeoutMs: 100, retries: 0 });
    expect(r.error?.kind).toBe("timeout");
  });

  it("never throws on fuzzed malformed responses that carry our id", async () => {
    let payload = Buffer.alloc(0);
    const s = await serverWith((m) => {
      const out = Buffer.from(payload);
      if (out.length >= 2) m.copy(out, 0, 0, 2);
      return out;
    });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 2, maxLength: 600 }), async (bytes) => {
        payload = Buffer.from(bytes);
        const r = await queryDns(s, "example.test", "A", { timeoutMs: 100, retries: 0, tcp: false });
        const o = classifyAnswer(r, expectation);
        expect(["NEW", "OLD", "MIXED", "NEGATIVE", "ERROR", "UNEXPECTED"]).toContain(o.status);
      }),
      { numRuns: 150 },
    );
    // A valid header with garbage after it, and a response with a truncated record, are also survived.
    const q = encodeQuery("example.test", "A");
    const good = respond(q, 0, [{ type: "A", name: "example.test", ttl: 30, data: "203.0.113.20" }]);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: good.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        async (cut, byte) => {
          const mutated = Buffer.from(good);
          mutated[cut] = byte;
          payload = Math.random() < 0.5 ? mutated : mutated.subarray(0, cut);
          const r = await queryDns(s, "example.test", "A", { timeoutMs: 100, retries: 0 });
          expect(classifyAnswer(r, expectation).status).toBeDefined();
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("DoH (RFC 8484)", () => {
  let http: Server;
  let url: string;
  beforeAll(async () => {
    http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.method !== "POST" || req.headers["content-type"] !== "application/dns-message") {
          res.writeHead(415).end();
          return;
        }
        const body = respond(Buffer.concat(chunks), 0, [
          { type: "CNAME", name: "www.example.test", ttl: 300, data: "edge.example.test" },
          { type: "A", name: "edge.example.test", ttl: 42, data: "203.0.113.20" },
        ]);
        res.writeHead(200, { "content-type": "application/dns-message" }).end(body);
      });
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/dns-query`;
  });
  afterAll(() => new Promise<void>((r) => http.close(() => r())));

  it("posts the wire format and classifies through the CNAME chain", async () => {
    const r = await queryDns(parseServerSpec(url), "www.example.test", "A");
    expect(r.transport).toBe("doh");
    const o = classifyAnswer(r, expectation);
    expect(o).toMatchObject({ status: "NEW", ttl: 42, cnames: ["edge.example.test"], addresses: ["203.0.113.20"] });
  });

  it("reports an HTTP error as ERROR", async () => {
    const r = await queryDns(parseServerSpec(url.replace("/dns-query", "/nope")), "x.test", "A", {
      fetch: (u, i) => globalThis.fetch(u, { ...i, headers: { "content-type": "text/plain" } }),
    });
    expect(r.error?.kind).toBe("http");
  });
});
