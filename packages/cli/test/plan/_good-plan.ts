/** The clock the plan tests parse at: before the swap below, so the schedule is in the future. */
export const NOW = new Date("2027-11-29T10:00:00Z");

/** A small valid plan (zone file provider, relay on 80 and 443) that the plan tests vary one field at a time. */
export const GOOD = `name: colo-to-linode
old: { ipv4: 198.51.100.10, ssh: root@198.51.100.10 }
new: { ipv4: 203.0.113.20, ipv6: "2001:db8::20" }
dns:
  provider: zonefile
  zones: [example.com]
  files: { example.com: zones/example.com.zone }
  lowTtl: 300
schedule:
  swapAt: 2027-12-01T14:00:00Z
  margin: 1h
  restoreTtlAfter: 24h
  drain: { quiet: 30m, deadline: 72h }
relay:
  ports: [80, 443]
`;
