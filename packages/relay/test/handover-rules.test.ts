import { expect, test } from "vitest";
import { pendingConnections, planFirewall, planRedirect } from "../src/handover.js";

test("redirect rules catch only the moving addresses when they are given (nft and iptables)", () => {
  const nft = planRedirect([{ port: 80, sparePort: 20080 }], "nft", "cutover", ["198.51.100.10", "2001:db8:10::10"]);
  const script = nft.commands[0]!;
  expect(script).toContain("ip daddr { 198.51.100.10 } tcp dport 80 tcp flags & (syn | ack) == syn redirect to :20080");
  expect(script).toContain(
    "ip6 daddr { 2001:db8:10::10 } tcp dport 80 tcp flags & (syn | ack) == syn redirect to :20080",
  );
  expect(script).toContain("fib daddr type local ip daddr { 198.51.100.10 } tcp dport 80");
  expect(script).not.toMatch(/^\s+tcp dport/m);
  const ipt = planRedirect([{ port: 25, sparePort: 20025 }], "iptables", "cutover", ["198.51.100.10"]);
  const live = "-m recent --name cutover4 --rcheck --seconds 4 --mask 0.0.0.0";
  expect(ipt.commands).toEqual([
    `-t nat -A PREROUTING -p tcp --syn -d 198.51.100.10 --dport 25 ${live} -m comment --comment cutover -j REDIRECT --to-ports 20025`,
    `-t nat -A OUTPUT -p tcp --syn -d 198.51.100.10 --dport 25 ${live} -m addrtype --dst-type LOCAL -m comment --comment cutover -j REDIRECT --to-ports 20025`,
    // a restarting relay's spare port: SYNs held (dropped, so the client retries) while nothing listens
    "-N CUTOVER_HOLD",
    "-A CUTOVER_HOLD -m socket --nowildcard -j RETURN",
    "-A CUTOVER_HOLD -j DROP",
    `-I INPUT 1 -p tcp --syn --dport 20025 ${live} -m comment --comment cutover -j CUTOVER_HOLD`,
  ]);
  // Without addresses: every local address, as before.
  expect(planRedirect([{ port: 80, sparePort: 20080 }], "nft", "cutover").commands[0]).toMatch(
    /^\s+meta l4proto @alive tcp dport 80 /m,
  );
});

test("the dead man's switch: every rule matches only while the relay renews its mark; a rebind holds SYNs only", () => {
  const script = planRedirect([{ port: 80, sparePort: 20080 }], "nft", "cutover").commands[0]!;
  expect(script).toContain("set alive {");
  expect(script).toContain("meta l4proto @alive tcp dport 80 tcp flags & (syn | ack) == syn redirect to :20080");
  expect(script).toContain(
    "meta l4proto @alive tcp dport { 20080 } tcp flags & (syn | ack) == syn socket transparent 0 accept",
  );
  expect(script).toContain("add element inet cutover alive { tcp timeout 4s }");
  // without a switch (the socat script has no process to renew it): plain rules
  expect(planRedirect([{ port: 80, sparePort: 20080 }], "nft", "cutover", [], null).commands[0]).not.toContain("alive");
  const rebind = planFirewall({ redirects: [], hold: [443, 80], aliveSeconds: 3 }, "nft", "t").commands[0]!;
  expect(rebind).not.toContain("redirect");
  expect(rebind).toContain("meta l4proto @alive tcp dport { 80, 443 } tcp flags & (syn | ack) == syn drop");
});

test("a rebind first holds every SYN, whoever listens, then only while nobody does", () => {
  const all = planFirewall({ redirects: [], hold: [80], holdAll: true }, "nft", "t").commands[0]!;
  expect(all).toContain("tcp dport { 80 } tcp flags & (syn | ack) == syn drop");
  expect(all).not.toContain("socket transparent");
  const ipt = planFirewall({ redirects: [], hold: [80], holdAll: true }, "iptables", "t").commands;
  expect(ipt.join("\n")).not.toContain("-m socket");
  expect(ipt).toContain("-A T_HOLD -j DROP");
  const narrow = planFirewall({ redirects: [], hold: [80] }, "iptables", "t").commands;
  expect(narrow).toContain("-A T_HOLD -m socket --nowildcard -j RETURN");
});

test("connections waiting to be accepted are counted from /proc/net/tcp and tcp6", async () => {
  const tcp = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    // a listener on :80 with 3 connections in its accept queue, one on :8080 with 7 (not ours)
    "   0: 00000000:0050 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 1 1",
    "   1: 00000000:1F90 00000000:0000 0A 00000000:00000007 00:00000000 00000000     0        0 2 1",
    // a half-open connection to :80, an established one (accepted: not counted)
    "   2: 0A00000A:0050 3200000A:D431 03 00000000:00000000 01:00000064 00000000     0        0 0 1",
    "   3: 0A00000A:0050 3200000A:D432 01 00000000:00000000 00:00000000 00000000     0        0 3 1",
  ].join("\n");
  const tcp6 = [
    "  sl  local_address                         remote_address                        st tx_queue rx_queue",
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000002 00:00000000 00000000",
  ].join("\n");
  const read = async (path: string) => (path.endsWith("6") ? tcp6 : tcp);
  expect(await pendingConnections([80], read)).toEqual({ queued: 5, halfOpen: 1 });
  expect(await pendingConnections([443], read)).toEqual({ queued: 0, halfOpen: 0 });
  expect(
    await pendingConnections([80], async () => {
      throw new Error("ENOENT");
    }),
  ).toBeNull();
});
