import { isIP } from "node:net";

/** Canonical text of an IP address for comparison: IPv4 as is, IPv6 fully expanded in lowercase. */
export function canonicalIp(text: string): string {
  const t = text.trim().toLowerCase();
  if (isIP(t) !== 6) return t;
  let s = t;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail = ""] = s.split("::");
  const h = head ? head.split(":") : [];
  const tl = tail ? tail.split(":") : [];
  const fill = s.includes("::") ? Array<string>(8 - h.length - tl.length).fill("0") : [];
  return [...h, ...fill, ...tl].map((x) => x.padStart(4, "0")).join(":");
}

export function sameIp(a: string, b: string): boolean {
  return canonicalIp(a) === canonicalIp(b);
}
