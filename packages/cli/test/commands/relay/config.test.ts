import { resolve } from "node:path";
import { expect, test } from "vitest";
import { parseForwardSpec, parseSshTarget, planRelayConfig, relayTable } from "../../../src/old-host/relay-config.js";
import { loadPlan } from "../../../src/plan/load.js";

const example = resolve(import.meta.dirname, "../../../../../examples/colo-to-linode.yaml");

test("planRelayConfig maps the plan's relay, new, handover and schedule.drain sections", async () => {
  const { plan } = await loadPlan(example, { cwd: process.cwd(), now: new Date("2027-11-29T10:00:00Z") });
  const config = planRelayConfig(plan, { adminPath: "/run/x.sock", knownHostsPath: "/root/.ssh/known_hosts" });
  expect(config.listeners).toHaveLength(10);
  expect(config.listeners[0]).toEqual({
    kind: "tcp",
    port: 110,
    upstream: { kind: "tcp", host: "203.0.113.20", port: 110 },
  });
  expect(config.listeners.find((l) => l.kind === "tcp" && l.port === 25)).toMatchObject({ proxyProtocol: "v2" });
  expect(config.listeners.find((l) => l.kind === "tcp" && l.port === 80)).toMatchObject({ proxyProtocol: "v1" });
  expect(config.listeners[9]).toEqual({
    kind: "unix",
    path: "/var/lib/mysql/mysql.sock",
    owner: "mysql",
    group: "mysql",
    mode: "0777",
    upstream: { kind: "ssh", via: "new", host: "127.0.0.1", port: 3306 },
  });
  expect(config.ssh).toEqual({
    new: { host: "203.0.113.20", port: 22, username: "root", knownHostsPath: "/root/.ssh/known_hosts" },
  });
  expect(config.handover).toEqual({
    mode: "redirect",
    services: ["dovecot", "postfix", "nginx", "mariadb"],
    addresses: ["198.51.100.10", "2001:db8:10::10"],
    at: "2027-12-01T14:00:00.000Z",
    table: "cutover_colo_to_linode",
  });
  expect(config.drain).toEqual({
    quietMs: 1_800_000,
    quietAfter: "2027-12-01T14:30:00.000Z", // the one drain rule: quiet 30m counted from the swap, as plan and run say
    stopBy: "2027-12-04T14:00:00.000Z",
  });
  expect(config.admin).toEqual({ path: "/run/x.sock" });
  expect(config.workers).toBeUndefined(); // one process unless the plan says
  const four = planRelayConfig(
    { ...plan, relay: { ...plan.relay, workers: 4 } },
    { adminPath: "/run/x.sock", knownHostsPath: "/k" },
  );
  expect(four.workers).toBe(4);
});

test("--forward specs", () => {
  expect(parseForwardSpec("80:203.0.113.20:80")).toEqual({
    kind: "tcp",
    port: 80,
    upstream: { kind: "tcp", host: "203.0.113.20", port: 80 },
  });
  expect(parseForwardSpec("127.0.0.1:8025:203.0.113.20:25/v2")).toEqual({
    kind: "tcp",
    host: "127.0.0.1",
    port: 8025,
    upstream: { kind: "tcp", host: "203.0.113.20", port: 25 },
    proxyProtocol: "v2",
  });
  expect(parseForwardSpec("[::]:443:[2001:db8::20]:443")).toMatchObject({
    host: "::",
    port: 443,
    upstream: { host: "2001:db8::20", port: 443 },
  });
  expect(parseForwardSpec("/var/lib/mysql/mysql.sock:127.0.0.1:3307")).toEqual({
    kind: "unix",
    path: "/var/lib/mysql/mysql.sock",
    upstream: { kind: "tcp", host: "127.0.0.1", port: 3307 },
  });
  expect(() => parseForwardSpec("80:203.0.113.20")).toThrow(/expected \[BIND:\]PORT:HOST:PORT/);
  expect(() => parseForwardSpec("80:h:99999")).toThrow(/--forward/);
});

test("SSH targets", () => {
  expect(parseSshTarget("root@203.0.113.20")).toEqual({ host: "203.0.113.20", port: 22, username: "root" });
  expect(parseSshTarget("admin@new.example.com:2222")).toEqual({
    host: "new.example.com",
    port: 2222,
    username: "admin",
  });
  expect(parseSshTarget("[2001:db8::20]:2200")).toEqual({ host: "2001:db8::20", port: 2200, username: "root" });
});

test("each plan's relay has a firewall table of its own, short enough for an iptables chain name", () => {
  expect(relayTable("colo-to-linode")).toBe("cutover_colo_to_linode");
  const a = relayTable("a-very-long-plan-name-for-the-mail-move");
  const b = relayTable("a-very-long-plan-name-for-the-web-move");
  expect(a).not.toBe(b);
  for (const t of [a, b, relayTable("x")]) {
    expect(t).toMatch(/^cutover_[a-z0-9_]+$/);
    expect(`${t.toUpperCase()}_HOLD`.length).toBeLessThanOrEqual(28);
  }
});
