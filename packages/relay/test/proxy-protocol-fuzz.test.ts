import fc from "fast-check";
import { expect, test } from "vitest";
import { RelayError } from "../src/errors.js";
import { PROXY_V1_MAX } from "../src/proxy-protocol.js";
import { decodeProxyHeader, encodeProxyV1, encodeProxyV2, PROXY_V2_SIGNATURE } from "../src/index.js";

const V2_MAX = 16 + 65535;

/** Decodes, and says which of the three allowed outcomes it was; anything else fails the property. */
function outcome(buf: Buffer): "incomplete" | "header" | "refused" {
  let h: ReturnType<typeof decodeProxyHeader>;
  try {
    h = decodeProxyHeader(buf);
  } catch (error) {
    if (error instanceof RelayError && error.code === "E_PROXY_HEADER" && error.message.length < 200) return "refused";
    throw error;
  }
  if (h === undefined) {
    // Waiting for more is bounded: never past the longest header the spec allows.
    expect(buf.length).toBeLessThan(buf[0] === 0x0d ? V2_MAX : PROXY_V1_MAX);
    return "incomplete";
  }
  expect(h.length).toBeGreaterThan(0);
  expect(h.length).toBeLessThanOrEqual(Math.min(buf.length, V2_MAX));
  return "header";
}

const endpoints = fc.record({
  sourceAddress: fc.oneof(fc.ipV4(), fc.ipV6()),
  destAddress: fc.oneof(fc.ipV4(), fc.ipV6()),
  sourcePort: fc.integer({ min: 0, max: 65535 }),
  destPort: fc.integer({ min: 0, max: 65535 }),
  transport: fc.constantFrom("tcp" as const, "udp" as const),
});

/** Valid headers, then cut, with bytes flipped, or with garbage after. */
const mutated = fc
  .tuple(
    endpoints,
    fc.boolean(),
    fc.nat(),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([e, v1, cut, flips, tail]) => {
    const good = v1 ? encodeProxyV1(e) : encodeProxyV2(e);
    const b = Buffer.concat([good, Buffer.from(tail)]);
    for (const [at, byte] of flips) b[at % b.length] = byte;
    return b.subarray(0, cut % (b.length + 1));
  });

const prefixed = fc
  .tuple(
    fc.constantFrom(PROXY_V2_SIGNATURE, Buffer.from("PROXY "), Buffer.from("PROXY TCP4 ")),
    fc.uint8Array({ maxLength: 300 }),
  )
  .map(([p, rest]) => Buffer.concat([p, Buffer.from(rest)]));

test("decodeProxyHeader: random, truncated and mutated input gives a header, 'need more' or a typed refusal", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        mutated,
        prefixed,
      ),
      (buf) => {
        outcome(buf);
      },
    ),
    { numRuns: 5000 },
  );
});

test("decodeProxyHeader: every header the relay writes reads back, and each of its prefixes waits for more", () => {
  fc.assert(
    fc.property(endpoints, fc.boolean(), (e, v1) => {
      const good = v1 ? encodeProxyV1(e) : encodeProxyV2(e);
      const h = decodeProxyHeader(good);
      expect(h?.length).toBe(good.length);
      for (let i = 0; i < good.length; i++) expect(outcome(good.subarray(0, i))).toBe("incomplete");
    }),
    { numRuns: 200 },
  );
});

test("decodeProxyHeader: examples of malformed headers are refused, not read", () => {
  const refused = (s: string | Buffer) => expect(() => decodeProxyHeader(Buffer.from(s))).toThrow(RelayError);
  refused("GET / HTTP/1.1\r\n");
  refused("PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n");
  refused("PROXY TCP4 10.0.0.1 10.0.0.2 1 70000\r\n");
  refused("PROXY TCP6 10.0.0.1 10.0.0.2 1 2\r\n");
  refused("PROXY TCP4 10.0.0.1 10.0.0.2 1\r\n");
  refused(`PROXY ${"x".repeat(200)}`);
  // v2 with an address block too short for its family (read past the end before)
  const short = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(short);
  short[12] = 0x21;
  short[13] = 0x11;
  refused(short);
});
