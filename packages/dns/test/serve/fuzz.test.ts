import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as dnsPacket from "dns-packet";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { queryDns } from "../../src/propagation/query.js";
import { answerMessage } from "../../src/serve/answer.js";
import { startAuthoritativeServer, type AuthoritativeServer } from "../../src/serve/server.js";
import { buildZone } from "../../src/serve/zone.js";
import { parseServerSpec } from "@cutover/core";

const ZONE = `$ORIGIN example.test.
$TTL 300
@   IN SOA ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 60 )
@   IN NS ns1
ns1 IN A 127.0.0.1
@   IN A 198.51.100.10
www IN CNAME @
loop1 IN CNAME loop2
loop2 IN CNAME loop1
*.wild IN A 192.0.2.77
sub IN NS ns.sub
ns.sub IN A 192.0.2.53
big IN TXT ${Array.from({ length: 8 }, (_, i) => `"${String(i).repeat(250)}"`).join(" ")}
`;
const zones = [buildZone(ZONE, "example.test.zone", "example.test")];

const names = fc.oneof(
  fc.constantFrom(
    "example.test",
    "www.example.test",
    "loop1.example.test",
    "x.wild.example.test",
    "a.sub.example.test",
  ),
  fc.constantFrom("big.example.test", "", ".", "other.test", "*.example.test"),
  fc.domain(),
  fc.string({ maxLength: 70 }),
);
const types = fc.constantFrom("A", "AAAA", "NS", "SOA", "TXT", "MX", "CNAME", "ANY", "AXFR", "OPT", "SRV", "CAA");

/** Well-formed queries (some with EDNS, some with odd payload sizes) encoded, then cut or with bytes changed. */
const messages = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
  fc
    .tuple(
      names,
      types,
      fc.option(fc.integer({ min: 0, max: 65535 })),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.boolean(),
    )
    .map(([name, type, edns, cut, flips, whole]) => {
      let b: Buffer;
      try {
        b = dnsPacket.encode({
          type: "query",
          id: 4242,
          questions: [{ name, type: type as dnsPacket.RecordType }],
          additionals:
            edns === null
              ? []
              : [
                  {
                    type: "OPT",
                    name: ".",
                    udpPayloadSize: edns,
                    extendedRcode: 0,
                    ednsVersion: 0,
                    flags: 0,
                  } as dnsPacket.Answer,
                ],
        });
      } catch {
        return Buffer.from(name);
      }
      for (const [at, byte] of flips) b[at % b.length] = byte;
      return whole ? b : b.subarray(0, cut % (b.length + 1));
    }),
);

describe("dns serve's message reader", () => {
  test("any bytes give a bounded answer or none, never an exception", () => {
    fc.assert(
      fc.property(messages, fc.constantFrom(1232, undefined), (msg, udpLimit) => {
        const { answer } = answerMessage(zones, msg, udpLimit);
        if (answer === undefined) return;
        expect(answer.length).toBeGreaterThanOrEqual(12);
        expect(answer.length).toBeLessThanOrEqual(udpLimit ?? 65535);
        expect(answer.readUInt16BE(0)).toBe(msg.readUInt16BE(0)); // the id is echoed
        expect(answer[2]! & 0x80).toBe(0x80); // a response
      }),
      { numRuns: 5000 },
    );
  });
});

describe("dns serve on sockets", () => {
  let dir: string;
  let server: AuthoritativeServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `cutover-serve-fuzz-${process.pid}-`));
    await writeFile(join(dir, "example.test.zone"), ZONE);
    server = await startAuthoritativeServer({
      zoneFiles: [join(dir, "example.test.zone")],
      listen: "127.0.0.1:0",
      watch: false,
      tcpTimeoutMs: 300,
    });
  });
  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const closed = (s: Socket) =>
    new Promise<{ bytes: number }>((resolve) => {
      let bytes = 0;
      s.on("data", (d: Buffer) => (bytes += d.length));
      s.on("error", () => undefined);
      s.on("close", () => resolve({ bytes }));
    });

  test("TCP: a connection that sends nothing, or a message a byte at a time, is closed by the read timeout", async () => {
    const silent = connect({ port: server.port, host: "127.0.0.1" });
    const trickle = connect({ port: server.port, host: "127.0.0.1" });
    const done = Promise.all([closed(silent), closed(trickle)]);
    // A 200-byte message announced, then one byte every 50 ms: each byte used to reset the idle timer.
    trickle.write(Buffer.from([0, 200]));
    const t = setInterval(() => !trickle.destroyed && trickle.write(Buffer.from([0])), 50);
    const bounded = new Promise<"still open">((r) => setTimeout(() => r("still open"), 8000));
    const result = await Promise.race([done, bounded]);
    clearInterval(t);
    silent.destroy();
    trickle.destroy();
    expect(result).not.toBe("still open");
  }, 15_000);

  test("random datagrams and TCP streams do not stop the server", async () => {
    const udp = createSocket("udp4");
    await fc.assert(
      fc.asyncProperty(fc.array(messages, { minLength: 1, maxLength: 4 }), async (batch) => {
        for (const m of batch) udp.send(m, server.port, "127.0.0.1");
        const s = connect({ port: server.port, host: "127.0.0.1" });
        const end = closed(s);
        s.on("connect", () => {
          for (const m of batch) {
            const len = Buffer.alloc(2);
            len.writeUInt16BE(Math.min(m.length, 65535));
            s.write(Buffer.concat([len, m]));
          }
          s.end();
        });
        await end;
      }),
      { numRuns: 60 },
    );
    udp.close();
    const r = await queryDns(parseServerSpec(server.address), "example.test", "A", { rd: false, timeoutMs: 2000 });
    expect(r.response?.answers[0]?.data).toBe("198.51.100.10");
  }, 60_000);

  test("a zone file that is not a regular file is refused before it is read", async () => {
    await expect(
      startAuthoritativeServer({ zoneFiles: [{ file: "/dev/urandom", origin: "x.test" }], listen: "127.0.0.1:0" }),
    ).rejects.toMatchObject({ code: "E_ZONE_READ", message: expect.stringMatching(/character device/) });
    await expect(
      startAuthoritativeServer({ zoneFiles: [{ file: dir, origin: "x.test" }], listen: "127.0.0.1:0" }),
    ).rejects.toMatchObject({ code: "E_ZONE_READ", message: expect.stringMatching(/directory/) });
  }, 10_000);
});
