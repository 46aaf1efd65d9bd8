import { expect, test } from "vitest";
import { planRedirect } from "../src/handover.js";

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
  expect(ipt.commands).toEqual([
    "-t nat -A PREROUTING -p tcp --syn -d 198.51.100.10 --dport 25 -m comment --comment cutover -j REDIRECT --to-ports 20025",
    "-t nat -A OUTPUT -p tcp -d 198.51.100.10 --dport 25 -m addrtype --dst-type LOCAL -m comment --comment cutover -j REDIRECT --to-ports 20025",
  ]);
  // Without addresses: every local address, as before.
  expect(planRedirect([{ port: 80, sparePort: 20080 }], "nft", "cutover").commands[0]).toMatch(/^\s+tcp dport 80 /m);
});
