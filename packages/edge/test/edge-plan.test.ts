import { describe, expect, it } from "vitest";
import { planEdgeDeployment } from "../src/index.js";
import type { DnsRecord } from "@cutover/core";
import { planMove } from "@cutover/core";

describe("planEdgeDeployment", () => {
  it.each([
    ["route53", /route53 cannot run at the edge: the Worker does not carry a Route 53 client yet/],
    ["digitalocean", /digitalocean cannot run at the edge: the Worker does not carry a DigitalOcean client yet/],
    ["hetzner", /hetzner cannot run at the edge: the Worker does not carry a Hetzner client yet/],
    ["powerdns", /powerdns cannot run at the edge: its API lives on your own server/],
    ["zonefile", /zonefile cannot run at the edge: a Worker cannot write zone files/],
  ])("says in one line why %s cannot run at the edge", (provider, line) => {
    const attempt = () =>
      planEdgeDeployment({
        name: "m",
        provider,
        zones: ["example.com"],
        swapAt: new Date(0),
        steps: [],
        rollback: { step: "rollback", changes: [] },
        originals: [],
        resolvers: [],
        checkOffsetsMs: [],
        now: new Date(0),
      });
    expect(attempt).toThrow(line);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain("\n");
      expect((error as { code?: string }).code).toBe("E_EDGE_PROVIDER");
    }
  });

  it("checks the moved addresses only, not the members of their RRsets that stay (they answer the same before and after)", () => {
    const rec = (id: string, name: string, type: string, content: string): DnsRecord => ({
      id,
      zone: "example.com",
      name,
      type,
      content,
      ttl: 3600,
    });
    const addresses = { old: { ipv4: "198.51.100.10" }, new: { ipv4: "203.0.113.20" } };
    const move = planMove(
      [rec("1", "www.example.com", "A", "198.51.100.10"), rec("2", "www.example.com", "A", "192.0.2.7")],
      addresses,
      { lowTtl: 300, capabilities: { minTtl: 60, maxTtl: 86400, batch: true, proxied: true, atomicSwap: true } },
    );
    expect(move.siblings).toHaveLength(1);
    const swapAt = new Date(Date.UTC(2036, 0, 1));
    const d = planEdgeDeployment({
      name: "m",
      provider: "cloudflare",
      zones: ["example.com"],
      swapAt,
      steps: [
        {
          kind: "swap",
          to: ["203.0.113.20"],
          writes: "batch",
          label: "T",
          notes: [],
          at: swapAt,
          summary: "swap",
          changes: move.swap,
        },
      ],
      rollback: move.rollback,
      originals: [...move.targets, ...move.siblings],
      resolvers: ["https://doh.test/dns-query"],
      checkOffsetsMs: [60_000],
      now: new Date(0),
    });
    const checks = d.data.steps.flatMap((s) => (s.kind === "check" ? s.check.targets : []));
    expect(checks).toEqual([{ name: "www.example.com", type: "A", expect: "203.0.113.20", old: "198.51.100.10" }]);
  });
});
