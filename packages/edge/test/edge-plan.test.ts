import { describe, expect, it } from "vitest";
import { planEdgeDeployment } from "../src/index.js";

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
});
