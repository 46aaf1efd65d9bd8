import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { classifyAtlasResults, createAtlasClient, summarizeAtlas } from "../../src/propagation/atlas.js";
import { createAtlasFake } from "./_atlas-fake.js";

const KEY = "atlas-secret-key-123456";
const fake = createAtlasFake({
  key: KEY,
  answerFor: (p) => (p % 5 === 0 ? "timeout" : p % 3 === 0 ? "198.51.100.10" : "203.0.113.20"),
});
const server = setupServer(...fake.handlers);
beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

describe("RIPE Atlas", () => {
  it("creates a one-off DNS measurement through the probes' resolvers, by country", async () => {
    const atlas = createAtlasClient({ key: KEY });
    const id = await atlas.createDnsMeasurement({
      name: "www.example.com",
      type: "A",
      probes: 6,
      countries: ["de", "br"],
    });
    const sent = fake.measurements.get(id)!.body;
    expect(sent.is_oneoff).toBe(true);
    expect(sent.definitions[0]).toMatchObject({
      type: "dns",
      query_argument: "www.example.com",
      query_type: "A",
      use_probe_resolver: true,
      af: 4,
    });
    expect(sent.probes).toEqual([
      { type: "country", value: "DE", requested: 3 },
      { type: "country", value: "BR", requested: 3 },
    ]);
    expect(fake.requests.at(-1)?.authorization).toBe(`Key ${KEY}`);
    expect(await atlas.status(id)).toBe("Ongoing");
    expect(await atlas.status(id)).toBe("Stopped");
  });

  it("decodes each probe's abuf, classifies it, and summarises per country", async () => {
    const atlas = createAtlasClient({ key: KEY });
    const id = await atlas.createDnsMeasurement({ name: "www.example.com", type: "A", probes: 10 });
    const results = await atlas.results(id);
    const countries = await atlas.probeCountries(results.map((r) => r.prb_id));
    const answers = classifyAtlasResults(
      results,
      { expect: ["203.0.113.20"], old: ["198.51.100.10"] },
      "www.example.com",
      "A",
      countries,
    );
    expect(answers).toHaveLength(10);
    expect(answers.find((a) => a.probe === 1002)).toMatchObject({
      status: "OLD",
      addresses: ["198.51.100.10"],
      ttl: 120,
      resolver: "192.168.1.1",
    });
    expect(answers.find((a) => a.probe === 1001)?.status).toBe("NEW");
    expect(answers.find((a) => a.probe === 1005)?.status).toBe("ERROR");
    const summary = summarizeAtlas(answers);
    expect(summary.reduce((n, c) => n + c.probes, 0)).toBe(10);
    expect(summary.map((c) => c.country).sort()).toEqual(["DE", "NL", "US"]);
    const total = summary.reduce((acc, c) => ({ n: acc.n + c.newCount, o: acc.o + c.old, x: acc.x + c.other }), {
      n: 0,
      o: 0,
      x: 0,
    });
    expect(total).toEqual({ n: 6, o: 2, x: 2 }); // probes 1000..1009: OLD 1002/1008, timeout 1000/1005
  });

  it("reports a bad key by status without ever showing the key", async () => {
    const atlas = createAtlasClient({ key: "wrong-key-abcdef" });
    const err = await atlas.createDnsMeasurement({ name: "x.example", type: "A", probes: 1 }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string; hint: string },
    );
    expect(err?.code).toBe("E_ATLAS_AUTH");
    expect(err?.message).toBe(
      "[ripe-atlas] 403 Forbidden: Authentication credentials were not provided or are invalid.",
    );
    expect(`${err?.message}${err?.hint}`).not.toContain("wrong-key-abcdef");
  });
});
