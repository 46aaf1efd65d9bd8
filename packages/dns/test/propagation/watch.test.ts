import { describe, expect, it } from "vitest";
import type { QueryResult } from "../../src/propagation/query.js";
import { parseResolverList } from "../../src/propagation/servers.js";
import { createPropagationWatch, summarizeObservations } from "../../src/propagation/watch.js";
import { parseServerSpec, type ServerSpec } from "@cutover/core";

/** A scripted world: each resolver answers what `answer(server, round)` says; time only moves by sleep. */
function world(answer: (server: string, t: number) => { addr?: string; ttl?: number; rcode?: string }) {
  let t = 1_000_000;
  const sleeps: number[] = [];
  const send = async (server: ServerSpec, name: string, type: string): Promise<QueryResult> => {
    const a = answer(server.label, t);
    const base = {
      server: server.label,
      name,
      type,
      transport: "udp" as const,
      elapsedMs: 1,
      attempts: 1,
      truncatedRetry: false,
    };
    if (a.rcode === "TIMEOUT") return { ...base, error: { kind: "timeout", message: "no answer" } };
    return {
      ...base,
      response: {
        rcode: a.rcode ?? "NOERROR",
        aa: false,
        tc: false,
        rd: true,
        ra: true,
        answers: a.addr ? [{ name, type: "A", ttl: a.ttl ?? 60, data: a.addr }] : [],
        authorities: [],
        additionals: [],
      },
    };
  };
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    send,
    sleeps,
    advance: (ms: number) => (t += ms),
  };
}

const resolvers = parseResolverList(["127.0.0.1:5301", "127.0.0.1:5302", "127.0.0.1:5303"]);

describe("createPropagationWatch", () => {
  it("counts a resolver propagated after two consecutive all-NEW rounds, and estimates stale expiry", async () => {
    const w = world((server, t) => {
      if (server.endsWith("5302") && t < 1_000_000 + 25_000)
        return { addr: "198.51.100.10", ttl: 40 - Math.floor((t - 1_000_000) / 1000) };
      return { addr: "203.0.113.20", ttl: 20 };
    });
    const watch = createPropagationWatch({
      names: ["www.example.test"],
      expect: ["203.0.113.20"],
      old: ["198.51.100.10"],
      resolvers,
      authoritative: false,
      lowTtl: 20,
      now: w.now,
      sleep: w.sleep,
      send: w.send,
      random: () => 0.5,
      changedAt: 1_000_000 - 5000,
      oldTtl: 60,
    });
    const rounds: Awaited<ReturnType<typeof watch.round>>[] = [];
    const report = await watch.run({ timeoutMs: 120_000, onRound: (r) => void rounds.push(r) });
    // Interval: min(30 s, lowTtl/2) = 10 s, jitter at its midpoint.
    expect(w.sleeps.every((s) => s === 10_000)).toBe(true);
    expect(rounds[0]!.targets.map((t) => t.status)).toEqual(["NEW", "OLD", "NEW"]);
    expect(rounds[0]!.estimate.expectedBy).toBe(1_000_000 + 40_000);
    expect(rounds[0]!.estimate.bound).toBe(1_000_000 - 5000 + 60_000);
    expect(rounds[0]!.progress).toBe(0);
    expect(rounds[1]!.targets.filter((t) => t.propagated).length).toBe(2);
    expect(rounds[1]!.groups[0]).toMatchObject({ group: "public", total: 3, newCount: 2, propagated: 2 });
    expect(report.propagated).toBe(true);
    expect(rounds.length).toBe(5); // 0 s, 10 s, 20 s OLD; 30 s NEW; 40 s NEW again
    expect(report.history.map((h) => h.shares.public)).toEqual([2 / 3, 2 / 3, 2 / 3, 1, 1]);
  });

  it("stops at the timeout without propagating, and leaves resolvers that never answer out of the verdict", async () => {
    const w = world((server) => (server.endsWith("5303") ? { rcode: "TIMEOUT" } : { addr: "198.51.100.10", ttl: 300 }));
    const watch = createPropagationWatch({
      names: ["www.example.test"],
      expect: ["203.0.113.20"],
      resolvers,
      authoritative: false,
      intervalMs: 5000,
      now: w.now,
      sleep: w.sleep,
      send: w.send,
    });
    const report = await watch.run({ timeoutMs: 12_000 });
    expect(report.propagated).toBe(false);
    expect(report.rounds).toBe(4); // 0, ~5, ~10, and a last one at the deadline
    const t3 = report.latest!.targets.find((t) => t.server.endsWith("5303"))!;
    expect(t3).toMatchObject({ status: "ERROR", unreachable: true });
    expect(report.latest!.groups[0]!.total).toBe(2);
  });

  it("watches sets of names with their own expectations in one round (a sibling address that stays)", async () => {
    const w = world(() => ({}));
    // www keeps a second server (.11) beside the moved address; mail moves alone.
    const answers: Record<string, string[]> = {
      "www.example.test": ["203.0.113.20", "198.51.100.11"],
      "mail.example.test": ["203.0.113.20"],
    };
    const send = async (server: ServerSpec, name: string, type: string): Promise<QueryResult> => ({
      server: server.label,
      name,
      type,
      transport: "udp",
      elapsedMs: 1,
      attempts: 1,
      truncatedRetry: false,
      response: {
        rcode: "NOERROR",
        aa: false,
        tc: false,
        rd: true,
        ra: true,
        answers: (answers[name] ?? []).map((data) => ({ name, type: "A", ttl: 60, data })),
        authorities: [],
        additionals: [],
      },
    });
    const base = { resolvers, authoritative: false as const, now: w.now, sleep: w.sleep, send };
    const sets = [
      {
        names: ["www.example.test"],
        expect: ["203.0.113.20", "198.51.100.11"],
        old: ["198.51.100.10", "198.51.100.11"],
      },
      { names: ["mail.example.test"], expect: ["203.0.113.20"], old: ["198.51.100.10"] },
    ];
    const report = await createPropagationWatch({ ...base, names: [], expect: [], sets }).run({ watch: false });
    expect(report.propagated).toBe(true);
    expect(report.names).toEqual(["www.example.test", "mail.example.test"]);
    expect(report.sets?.map((s) => s.names)).toEqual([["www.example.test"], ["mail.example.test"]]);
    expect(new Set(report.latest!.targets.map((t) => t.status))).toEqual(new Set(["NEW"]));
    // One expectation for both names could not be right: the sibling makes mail's answer incomplete, or
    // www's answer has an address that is not expected.
    const one = await createPropagationWatch({
      ...base,
      names: ["www.example.test", "mail.example.test"],
      expect: ["203.0.113.20"],
      old: ["198.51.100.10"],
    }).run({ watch: false });
    expect(one.propagated).toBe(false);
  });

  it("one-shot mode confirms an all-NEW round with a second one, and stops after one round otherwise", async () => {
    const w = world(() => ({ addr: "203.0.113.20", ttl: 30 }));
    const opts = {
      names: ["a.test"],
      expect: ["203.0.113.20"],
      resolvers,
      authoritative: false as const,
      now: w.now,
      sleep: w.sleep,
      send: w.send,
    };
    const ok = await createPropagationWatch(opts).run({ watch: false });
    expect(ok.rounds).toBe(2);
    expect(ok.propagated).toBe(true);
    const stale = await createPropagationWatch({ ...opts, expect: ["192.0.2.1"] }).run({ watch: false });
    expect(stale.rounds).toBe(1);
    expect(stale.propagated).toBe(false);
  });

  it("sends three queries per resolver, name and type", async () => {
    let count = 0;
    const w = world(() => ({ addr: "203.0.113.20" }));
    const watch = createPropagationWatch({
      names: ["a.test", "b.test"],
      expect: ["203.0.113.20", "2001:db8::20"],
      resolvers: parseResolverList("default"),
      authoritative: false,
      send: async (s, n, t) => {
        count++;
        return w.send(s, n, t);
      },
    });
    const r = await watch.round();
    expect(r.queries).toBe(21 * 2 * 2 * 3);
    expect(count).toBe(r.queries);
    expect(parseServerSpec(r.targets[0]!.server).kind).toBe("dns");
  });

  it("summarizes anycast disagreement as MIXED", () => {
    const o = (status: "NEW" | "OLD" | "ERROR") => ({ status, at: 0, addresses: [], cnames: [] });
    expect(summarizeObservations([o("NEW"), o("OLD"), o("NEW")])).toBe("MIXED");
    expect(summarizeObservations([o("NEW"), o("ERROR"), o("NEW")])).toBe("NEW");
    expect(summarizeObservations([o("ERROR"), o("ERROR")])).toBe("ERROR");
  });
});
