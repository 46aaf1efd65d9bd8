import { describe, expect, it } from "vitest";
import { classifyAnswer, typesFor } from "../../src/propagation/classify.js";
import { checkExpectedValue, sameData } from "../../src/propagation/expect.js";
import type { QueryResult, RecordView } from "../../src/propagation/query.js";

const result = (
  type: string,
  answers: RecordView[],
  rcode = "NOERROR",
  authorities: RecordView[] = [],
): QueryResult => ({
  server: "x",
  name: "www.example.test",
  type,
  transport: "udp",
  elapsedMs: 1,
  attempts: 1,
  truncatedRetry: false,
  response: { rcode, aa: false, tc: false, rd: true, ra: true, answers, authorities, additionals: [] },
});
const a = (data: string, ttl = 60, name = "www.example.test"): RecordView => ({
  name,
  type: data.includes(":") ? "AAAA" : "A",
  ttl,
  data,
});
const e = { expect: ["203.0.113.20", "2001:db8::20"], old: ["198.51.100.10", "2001:db8::10"] };

describe("classifyAnswer", () => {
  it("tells NEW, OLD, MIXED and UNEXPECTED apart, IPv6 compared canonically", () => {
    expect(classifyAnswer(result("A", [a("203.0.113.20")]), e).status).toBe("NEW");
    expect(classifyAnswer(result("AAAA", [a("2001:0db8:0:0::20")]), e).status).toBe("NEW");
    expect(classifyAnswer(result("A", [a("198.51.100.10", 37)]), e)).toMatchObject({ status: "OLD", ttl: 37 });
    expect(classifyAnswer(result("A", [a("198.51.100.10"), a("203.0.113.20")]), e).status).toBe("MIXED");
    expect(classifyAnswer(result("A", [a("192.0.2.1")]), e).status).toBe("UNEXPECTED");
    expect(classifyAnswer(result("A", [a("192.0.2.1")]), { expect: e.expect }).status).toBe("OLD");
  });

  it("treats NXDOMAIN and NODATA as NEGATIVE with the SOA's negative TTL", () => {
    const soa: RecordView = { name: "example.test", type: "SOA", ttl: 300, data: "ns1 host 1 2 3 4 45" };
    expect(classifyAnswer(result("A", [], "NXDOMAIN", [soa]), e)).toMatchObject({
      status: "NEGATIVE",
      negativeTtl: 45,
    });
    expect(classifyAnswer(result("A", [], "NOERROR", [soa]), e).status).toBe("NEGATIVE");
    // No IPv6 expected any more: NODATA for AAAA is the new state.
    expect(classifyAnswer(result("AAAA", []), { expect: ["203.0.113.20"], old: ["2001:db8::10"] }).status).toBe("NEW");
  });

  it("follows CNAME chains and reports the hops", () => {
    const r = result("A", [
      { name: "www.example.test", type: "CNAME", ttl: 300, data: "a.example.test" },
      { name: "a.example.test", type: "CNAME", ttl: 300, data: "b.cdn.test" },
      a("198.51.100.10", 12, "b.cdn.test"),
    ]);
    expect(classifyAnswer(r, e)).toMatchObject({ status: "OLD", cnames: ["a.example.test", "b.cdn.test"], ttl: 12 });
  });

  it("queries A and/or AAAA by the address families involved", () => {
    expect(typesFor({ expect: ["203.0.113.20"] })).toEqual(["A"]);
    expect(typesFor({ expect: ["203.0.113.20"], old: ["2001:db8::1"] })).toEqual(["A", "AAAA"]);
  });
});

describe("record types other than addresses", () => {
  const txt = (data: string[]) =>
    result(
      "TXT",
      data.map((d) => ({ name: "www.example.test", type: "TXT", ttl: 300, data: d })),
    );
  it("compares only the SPF records of a name against an SPF expectation", () => {
    const e = {
      expect: [],
      records: { TXT: { expect: ["v=spf1 ip4:203.0.113.20 -all"], old: ["v=spf1 ip4:198.51.100.10 -all"] } },
    };
    expect(classifyAnswer(txt(["google-site-verification=x", "v=spf1 ip4:203.0.113.20 -all"]), e).status).toBe("NEW");
    expect(classifyAnswer(txt(["google-site-verification=x", "v=spf1 ip4:198.51.100.10 -all"]), e).status).toBe("OLD");
    expect(classifyAnswer(txt(["v=spf1 include:elsewhere -all"]), e).status).toBe("UNEXPECTED");
    expect(classifyAnswer(txt(["google-site-verification=x"]), e).status).toBe("NEGATIVE");
  });

  it("MX: exchange and preference, or the exchange alone; names without case or final dot", () => {
    expect(sameData("MX", "10 Mail.Example.NET.", "10 mail.example.net")).toBe(true);
    expect(sameData("MX", "10 mail.example.net", "20 mail.example.net")).toBe(false);
    expect(sameData("MX", "mail.example.net", "20 mail.example.net.")).toBe(true);
    expect(sameData("CNAME", "Web.Example.net.", "web.example.net")).toBe(true);
    expect(sameData("AAAA", "2001:db8::20", "2001:0db8:0:0:0:0:0:20")).toBe(true);
    expect(() => checkExpectedValue("MX", "10 192.0.2.1")).toThrow(/host name/);
    expect(() => checkExpectedValue("NS", "ns 1")).toThrow(/not a host name/);
    expect(() => checkExpectedValue("A", "2001:db8::1")).toThrow(/IPv4/);
    expect(() => checkExpectedValue("SRV", "x")).toThrow(/not checked/);
  });
});
