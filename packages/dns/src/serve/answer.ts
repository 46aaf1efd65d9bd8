import * as dnsPacket from "dns-packet";
import type { ServedZone } from "./zone.js";

const norm = (n: string) => n.toLowerCase().replace(/\.$/, "");

function findZone(zones: readonly ServedZone[], name: string): ServedZone | undefined {
  let best: ServedZone | undefined;
  for (const z of zones)
    if (
      (name === z.origin || name.endsWith(`.${z.origin}`) || z.origin === "") &&
      (!best || z.origin.length > best.origin.length)
    )
      best = z;
  return best;
}

function withName(list: readonly dnsPacket.Answer[], name: string): dnsPacket.Answer[] {
  return list.map((a) => ({ ...a, name }));
}

function glue(zones: readonly ServedZone[], ns: readonly dnsPacket.Answer[]): dnsPacket.Answer[] {
  const out: dnsPacket.Answer[] = [];
  for (const r of ns) {
    const target = norm(String(r.type === "NS" ? r.data : ""));
    const z = findZone(zones, target);
    for (const a of z?.byName.get(target) ?? []) if (a.type === "A" || a.type === "AAAA") out.push(a);
  }
  return out;
}

/** The delegation point between the apex (excluded) and the name (included), nearest the apex. */
function findCut(zone: ServedZone, name: string): string | undefined {
  if (name === zone.origin) return undefined;
  const labels = name.slice(0, name.length - zone.origin.length - (zone.origin ? 1 : 0)).split(".");
  for (let i = labels.length - 1; i >= 0; i--) {
    const owner = [...labels.slice(i), ...(zone.origin ? [zone.origin] : [])].join(".");
    if (zone.byName.get(owner)?.some((a) => a.type === "NS")) return owner;
  }
  return undefined;
}

function lookupNode(zone: ServedZone, name: string): dnsPacket.Answer[] | undefined {
  const direct = zone.byName.get(name);
  if (direct) return direct;
  if (nameExists(zone, name)) return undefined; // an empty non-terminal: NODATA, no wildcard
  // A wildcard at the closest encloser answers for names that do not exist (RFC 4592, simplified).
  let encloser = name;
  while (encloser !== zone.origin && encloser.includes(".")) {
    encloser = encloser.slice(encloser.indexOf(".") + 1);
    if (nameExists(zone, encloser)) break;
  }
  const wild = zone.byName.get(`*.${encloser}`);
  return wild ? withName(wild, name) : undefined;
}

function nameExists(zone: ServedZone, name: string): boolean {
  if (zone.byName.has(name)) return true;
  for (const owner of zone.byName.keys()) if (owner.endsWith(`.${name}`)) return true; // empty non-terminal
  return false;
}

function negativeSoa(zone: ServedZone): dnsPacket.Answer {
  return { ...zone.soa, ttl: zone.negativeTtl } as dnsPacket.Answer;
}

export interface AnswerOptions {
  /** The largest UDP answer to send; undefined for TCP (no limit but 65535). */
  udpLimit?: number;
}

/**
 * Answers one query from the served zones, as an authoritative server would: AA set, CNAME chains
 * followed inside our zones, NXDOMAIN/NODATA with the SOA in the authority section, referrals at
 * delegations, REFUSED outside our zones, TC when the UDP answer does not fit.
 */
export function answerQuery(
  zones: readonly ServedZone[],
  query: dnsPacket.DecodedPacket,
  options: AnswerOptions = {},
): Buffer {
  const q = query.questions?.[0];
  const rd = query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  const opt = (query.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
  const additionalsOpt: dnsPacket.Answer[] = opt
    ? [
        {
          type: "OPT",
          name: ".",
          udpPayloadSize: 1232,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ]
    : [];
  const reply = (
    rcode: number,
    aa: boolean,
    sections: { answers?: dnsPacket.Answer[]; authorities?: dnsPacket.Answer[]; additionals?: dnsPacket.Answer[] } = {},
  ) => {
    const packet: dnsPacket.Packet = {
      type: "response",
      id: query.id ?? 0,
      flags: (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rd | rcode,
      questions: q ? [q] : [],
      answers: sections.answers ?? [],
      authorities: sections.authorities ?? [],
      additionals: [...(sections.additionals ?? []), ...additionalsOpt],
    };
    const buf = dnsPacket.encode(packet);
    const limit = options.udpLimit;
    if (limit !== undefined && buf.length > limit) {
      return dnsPacket.encode({
        ...packet,
        flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
        answers: [],
        authorities: [],
        additionals: additionalsOpt,
      });
    }
    return buf;
  };
  const opcode = (query as { opcode?: string }).opcode ?? "QUERY";
  if (opcode !== "QUERY") return reply(4, false); // NOTIMP
  if (!q || (query.questions?.length ?? 0) !== 1) return reply(1, false); // FORMERR
  const qname = norm(q.name);
  const qtype = q.type;
  const zone = findZone(zones, qname);
  if (!zone) return reply(5, false); // REFUSED: not ours

  const cut = findCut(zone, qname);
  if (cut) {
    const ns = zone.byName.get(cut)!.filter((a) => a.type === "NS");
    return reply(0, false, { authorities: ns, additionals: glue(zones, ns) });
  }

  const answers: dnsPacket.Answer[] = [];
  let name = qname;
  let current: ServedZone = zone;
  for (let hops = 0; hops < 8; hops++) {
    const node = lookupNode(current, name);
    if (!node) {
      if (nameExists(current, name)) return reply(0, true, { answers, authorities: [negativeSoa(current)] });
      return reply(3, true, { answers, authorities: [negativeSoa(current)] }); // NXDOMAIN
    }
    const matching = qtype === ("ANY" as string) ? node : node.filter((a) => a.type === qtype);
    if (matching.length > 0) {
      answers.push(...withName(matching, name === qname ? q.name.replace(/\.$/, "") : name));
      const additionals =
        qtype === "NS" || qtype === "MX"
          ? glue(
              zones,
              matching.filter((a) => a.type === "NS"),
            )
          : [];
      return reply(0, true, { answers, additionals });
    }
    const cname = node.find((a) => a.type === "CNAME");
    if (!cname) return reply(0, true, { answers, authorities: [negativeSoa(current)] }); // NODATA
    answers.push(...withName([cname], name === qname ? q.name.replace(/\.$/, "") : name));
    name = norm(String((cname as dnsPacket.StringAnswer).data));
    const next = findZone(zones, name);
    if (!next || findCut(next, name)) return reply(0, true, { answers });
    current = next;
  }
  return reply(0, true, { answers });
}

/** What one message from the network gives: the answer to send (if any) and the question, for logs. */
export interface MessageAnswer {
  answer: Buffer | undefined;
  question?: { name: string; type: string };
}

/**
 * Reads one DNS message as it came off the network (UDP datagram, or a TCP message without its length) and
 * answers it. Total: any bytes give an answer or nothing, never an exception (fuzzed in
 * test/serve/fuzz.test.ts). Too short for a header: nothing. Unparseable: FORMERR with the id echoed. A
 * response (QR set): nothing, so two servers cannot echo each other. A query the answering code cannot
 * handle: SERVFAIL. `udpLimit` is this server's largest UDP answer; undefined for TCP, whose answers are
 * limited to what its 2-byte length can say (65535; a larger one is sent truncated, TC set).
 */
export function answerMessage(zones: readonly ServedZone[], msg: Buffer, udpLimit: number | undefined): MessageAnswer {
  if (msg.length < 12) return { answer: undefined };
  const bare = (rcode: number) => {
    const out = Buffer.alloc(12);
    msg.copy(out, 0, 0, 2);
    out.writeUInt16BE(0x8000 | ((msg[2]! & 0x78) << 8) | rcode, 2);
    return out;
  };
  if ((msg[2]! & 0x80) !== 0) return { answer: undefined };
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return { answer: bare(1) }; // FORMERR, as servers do for a message they cannot parse
  }
  const opt = (query.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
  const payload = Number(opt?.udpPayloadSize);
  const limit =
    udpLimit === undefined ? 65535 : opt && Number.isFinite(payload) ? Math.max(512, Math.min(payload, udpLimit)) : 512;
  const q = query.questions?.[0];
  const question = q ? { name: String(q.name).slice(0, 255), type: String(q.type) } : undefined;
  try {
    const answer = answerQuery(zones, query, { udpLimit: limit });
    return question ? { answer, question } : { answer };
  } catch {
    return question ? { answer: bare(2), question } : { answer: bare(2) }; // SERVFAIL
  }
}
