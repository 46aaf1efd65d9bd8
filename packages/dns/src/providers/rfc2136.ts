import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { isAbsolute, resolve } from "node:path";
import packet, { type Answer } from "dns-packet";
import { canonicalIp } from "../address.js";
import { DnsError } from "../errors.js";
import { normalizeName, type DnsRecord, type Zone } from "../records.js";
import { parseKeyFile, signRequest, TsigError, TsigVerifier, type TsigKey } from "./_tsig.js";
import type { ChangeOutcome, DnsProvider, ProviderConfig, RecordChange } from "./types.js";

/** dns-packet's record and question coders, which its typings do not declare. */
const coders = packet as unknown as {
  answer: { encode(a: Answer, buf?: Buffer, offset?: number): Buffer; encodingLength(a: Answer): number };
  question: {
    encode(q: { name: string; type: string; class: string }, buf: Buffer): unknown;
    encodingLength(q: { name: string; type: string; class: string }): number;
  };
  name: { encodingLength(n: string): number };
};

const RCODES = [
  "NOERROR",
  "FORMERR",
  "SERVFAIL",
  "NXDOMAIN",
  "NOTIMP",
  "REFUSED",
  "YXDOMAIN",
  "YXRRSET",
  "NXRRSET",
  "NOTAUTH",
  "NOTZONE",
];
const OPCODE_UPDATE = 5;
const CLASS_NONE = 254;
/** Types read and written; others in the zone are left alone. */
const TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "PTR", "SRV"];

export function parseServer(text: string): { host: string; port: number } {
  const t = text.trim();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 53) };
  const m = /^([^:]+)(?::(\d+))?$/.exec(t);
  if (m) return { host: m[1]!, port: Number(m[2] ?? 53) };
  return { host: t, port: 53 };
}

function header(id: number, opcode: number, counts: [number, number, number, number]): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(opcode << 11, 2);
  counts.forEach((c, i) => b.writeUInt16BE(c, 4 + i * 2));
  return b;
}

/** One resource record in wire form; `klass` NONE (254) marks "delete this RR" in an UPDATE. */
function rr(a: Answer, klass?: number): Buffer {
  const buf = coders.answer.encode(a);
  if (klass !== undefined) buf.writeUInt16BE(klass, coders.name.encodingLength(a.name) + 2);
  return buf;
}

/** The zone section of an UPDATE: the zone's name, type SOA, class IN. */
function zoneSection(zone: string): Buffer {
  const q = { name: zone, type: "SOA", class: "IN" };
  const buf = Buffer.alloc(coders.question.encodingLength(q));
  coders.question.encode(q, buf);
  return buf;
}

function txtChunks(text: string): Buffer[] {
  const b = Buffer.from(text, "utf8");
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += 255) out.push(b.subarray(i, i + 255));
  return out.length > 0 ? out : [Buffer.alloc(0)];
}

/** A record's data in dns-packet form, from cutover's presentation `content`. */
function dataFor(type: string, content: string): unknown {
  switch (type) {
    case "MX": {
      const [pref, ...host] = content.split(/\s+/);
      return { preference: Number(pref), exchange: host.join(" ").replace(/\.$/, "") };
    }
    case "TXT":
      return txtChunks(content);
    case "SRV": {
      const [priority, weight, port, target] = content.split(/\s+/);
      return {
        priority: Number(priority),
        weight: Number(weight),
        port: Number(port),
        target: String(target).replace(/\.$/, ""),
      };
    }
    case "CNAME":
    case "NS":
    case "PTR":
      return content.replace(/\.$/, "");
    default:
      return content;
  }
}

function contentOf(a: Answer): string | undefined {
  const d = (a as { data?: unknown }).data;
  switch (a.type) {
    case "A":
      return String(d);
    case "AAAA":
      return String(d);
    case "MX": {
      const m = d as { preference: number; exchange: string };
      return `${m.preference} ${normalizeName(m.exchange)}`;
    }
    case "TXT":
      return (Array.isArray(d) ? d : [d]).map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : String(x))).join("");
    case "SRV": {
      const s = d as { priority: number; weight: number; port: number; target: string };
      return `${s.priority} ${s.weight} ${s.port} ${normalizeName(s.target)}`;
    }
    case "CNAME":
    case "NS":
    case "PTR":
      return normalizeName(String(d));
    default:
      return undefined;
  }
}

function idFor(name: string, type: string, content: string): string {
  const c = type === "A" || type === "AAAA" ? canonicalIp(content) : content;
  return `${name}/${type}/${c}`;
}

/**
 * A primary server that takes dynamic updates (BIND, Knot, PowerDNS): reads a zone by AXFR (or, when
 * transfers are refused, by direct queries for the apex and the plan's names) and writes with RFC 2136
 * UPDATE messages over TCP, signed with TSIG HMAC-SHA256 from a BIND-style key file. All changes of a zone
 * go in one UPDATE (split at `batchSize`) whose prerequisites require every touched RRset exactly as read:
 * a compare-and-swap the server applies whole or not at all.
 */
export function createRfc2136Provider(config: ProviderConfig): DnsProvider {
  const serverText = config.options.server;
  const keyFileOpt = config.options.keyFile;
  if (typeof serverText !== "string" || typeof keyFileOpt !== "string") {
    throw new DnsError("dns.server and dns.keyFile are required for rfc2136", {
      code: "E_CONFIG",
      provider: "rfc2136",
    });
  }
  const server = parseServer(serverText);
  const keyFile = isAbsolute(keyFileOpt) ? keyFileOpt : resolve(config.baseDir, keyFileOpt);
  const names = Array.isArray(config.options.names) ? (config.options.names as string[]).map(normalizeName) : [];
  const timeoutMs = Number(config.options.timeoutMs ?? 10_000);
  const batchSize = Math.max(1, config.batchSize ?? 200);
  let key: Promise<TsigKey> | undefined;

  const loadKey = (): Promise<TsigKey> =>
    (key ??= readFile(keyFile, "utf8").then(
      (text) => {
        try {
          return parseKeyFile(text);
        } catch (error) {
          throw new DnsError(`the key file ${keyFile} is not usable: ${(error as Error).message}`, {
            code: "E_KEY",
            provider: "rfc2136",
          });
        }
      },
      (error: Error) => {
        throw new DnsError(`cannot read the TSIG key file ${keyFile}: ${error.message}`, {
          code: "E_KEY",
          provider: "rfc2136",
          hint: "create one with `tsig-keygen -a hmac-sha256 cutover > cutover.key` (BIND) or `keymgr -t cutover hmac-sha256` (Knot)",
        });
      },
    ));

  const where = `${server.host}:${server.port}`;

  /** Sends one signed message over TCP and returns the verified answers (several for AXFR). */
  async function exchange(message: Buffer, what: string, isAxfr = false): Promise<Buffer[]> {
    const k = await loadKey();
    const signed = signRequest(message, k);
    const verifier = new TsigVerifier(k, signed.mac);
    return new Promise<Buffer[]>((resolvePromise, reject) => {
      const socket = connect({ host: server.host, port: server.port });
      const out: Buffer[] = [];
      let buf = Buffer.alloc(0);
      let soas = 0;
      const done = (error?: Error) => {
        socket.destroy();
        if (error) reject(error);
        else resolvePromise(out);
      };
      socket.setTimeout(timeoutMs, () =>
        done(
          new DnsError(`no answer from ${where} within ${timeoutMs} ms while ${what}`, {
            code: "E_TIMEOUT",
            provider: "rfc2136",
          }),
        ),
      );
      socket.on("error", (error) =>
        done(
          new DnsError(
            `cannot reach ${where} (${(error as NodeJS.ErrnoException).code ?? error.message}) while ${what}`,
            {
              code: "E_NETWORK",
              provider: "rfc2136",
              hint: "check dns.server in the plan and that the server listens on TCP",
            },
          ),
        ),
      );
      socket.on("connect", () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(signed.message.length);
        socket.write(Buffer.concat([len, signed.message]));
      });
      socket.on("data", (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const rcode = msg.readUInt16BE(2) & 0xf;
          let clean: Buffer;
          try {
            // An error answer to a bad signature comes back unsigned; report the rcode instead.
            clean = rcode !== 0 && out.length === 0 ? stripUnsigned(msg, verifier) : verifier.verify(msg);
          } catch (error) {
            const text = error instanceof TsigError ? error.message : `malformed answer: ${(error as Error).message}`;
            return done(new DnsError(`${text} (from ${where} while ${what})`, { code: "E_TSIG", provider: "rfc2136" }));
          }
          out.push(clean);
          if (!isAxfr || rcode !== 0) return done();
          const decoded = packet.decode(clean);
          soas += (decoded.answers ?? []).filter((a) => a.type === "SOA").length;
          if (soas >= 2) return done();
        }
      });
      socket.on("end", () =>
        done(
          isAxfr && soas < 2
            ? new DnsError(`the zone transfer from ${where} ended early`, { code: "E_AXFR", provider: "rfc2136" })
            : undefined,
        ),
      );
    });
  }

  function stripUnsigned(msg: Buffer, verifier: TsigVerifier): Buffer {
    try {
      return verifier.verify(msg);
    } catch {
      return msg;
    }
  }

  const rcodeOf = (msg: Buffer) => RCODES[msg.readUInt16BE(2) & 0xf] ?? `RCODE${msg.readUInt16BE(2) & 0xf}`;

  function toRecords(zone: string, answers: Answer[]): DnsRecord[] {
    const out: DnsRecord[] = [];
    const seen = new Set<string>();
    for (const a of answers) {
      if (!TYPES.includes(a.type)) continue;
      const content = contentOf(a);
      if (content === undefined) continue;
      const name = normalizeName(a.name);
      const id = idFor(name, a.type, content);
      if (seen.has(id)) continue;
      seen.add(id);
      out.push({ id, zone, name, type: a.type, content, ttl: (a as { ttl?: number }).ttl ?? 0 });
    }
    return out;
  }

  async function axfr(zone: string): Promise<DnsRecord[] | undefined> {
    const q = packet.encode({
      type: "query",
      id: randomInt(65536),
      flags: 0,
      questions: [{ type: "AXFR", name: zone, class: "IN" }],
    });
    const msgs = await exchange(q, `transferring ${zone}`, true);
    const rcode = rcodeOf(msgs[0]!);
    if (rcode === "REFUSED" || rcode === "NOTAUTH") return undefined;
    if (rcode !== "NOERROR")
      throw new DnsError(`${rcode} from ${where} while transferring ${zone}`, { code: "E_AXFR", provider: "rfc2136" });
    return toRecords(
      zone,
      msgs.flatMap((m) => packet.decode(m).answers ?? []),
    );
  }

  async function queryAll(zone: string): Promise<DnsRecord[]> {
    const answers: Answer[] = [];
    for (const name of [zone, ...names.filter((n) => n !== zone)]) {
      for (const type of ["A", "AAAA", "CNAME", "MX", "TXT"]) {
        const q = packet.encode({
          type: "query",
          id: randomInt(65536),
          flags: 0,
          questions: [{ type: type as "A", name, class: "IN" }],
        });
        const [msg] = await exchange(q, `querying ${name} ${type}`);
        const rcode = rcodeOf(msg!);
        if (rcode !== "NOERROR" && rcode !== "NXDOMAIN")
          throw new DnsError(`${rcode} from ${where} for ${name} ${type}`, { code: "E_QUERY", provider: "rfc2136" });
        answers.push(
          ...(packet.decode(msg!).answers ?? []).filter((a) => a.type === type && normalizeName(a.name) === name),
        );
      }
    }
    return toRecords(zone, answers);
  }

  async function listRecords(zone: string): Promise<DnsRecord[]> {
    const name = normalizeName(zone);
    return (await axfr(name)) ?? (await queryAll(name));
  }

  /** One UPDATE for a chunk of changes: require each touched RRset as read, delete the old RRs, add the new. */
  function updateMessage(zone: string, current: readonly DnsRecord[], changes: readonly RecordChange[]): Buffer {
    const sets = new Map<string, DnsRecord[]>();
    for (const c of changes) {
      const k = `${c.name}|${c.type}`;
      if (!sets.has(k))
        sets.set(
          k,
          current.filter((r) => r.name === c.name && r.type === c.type),
        );
    }
    const prereq = [...sets.values()]
      .flat()
      .map((r) => rr({ name: r.name, type: r.type, class: "IN", ttl: 0, data: dataFor(r.type, r.content) } as Answer));
    const updates: Buffer[] = [];
    for (const c of changes) {
      const cur = c.current ?? c.record;
      updates.push(
        rr(
          { name: c.name, type: c.type, class: "IN", ttl: 0, data: dataFor(c.type, cur.content) } as Answer,
          CLASS_NONE,
        ),
      );
      updates.push(
        rr({
          name: c.name,
          type: c.type,
          class: "IN",
          ttl: c.after.ttl,
          data: dataFor(c.type, c.after.content),
        } as Answer),
      );
    }
    return Buffer.concat([
      header(randomInt(65536), OPCODE_UPDATE, [1, prereq.length, updates.length, 0]),
      zoneSection(zone),
      ...prereq,
      ...updates,
    ]);
  }

  return {
    name: "rfc2136",
    capabilities: {
      minTtl: 1,
      maxTtl: 2 ** 31 - 1,
      batch: true,
      maxBatch: batchSize,
      proxied: false,
      atomicSwap: true,
    },
    async listZones(): Promise<Zone[]> {
      return config.zones.map((z) => ({ id: normalizeName(z), name: normalizeName(z) }));
    },
    listRecords,
    async applyChanges(zone: string, changes: readonly RecordChange[]): Promise<ChangeOutcome[]> {
      const name = normalizeName(zone);
      const outcomes: ChangeOutcome[] = [];
      let current: DnsRecord[];
      try {
        current = await listRecords(name);
      } catch (error) {
        return changes.map((change) => ({ status: "failed" as const, change, error: (error as Error).message }));
      }
      let stopped = false;
      for (let i = 0; i < changes.length; i += batchSize) {
        const chunk: RecordChange[] = [];
        for (const c of changes.slice(i, i + batchSize)) {
          const cur = c.current ?? c.record;
          const still = current.some(
            (r) => r.name === c.name && r.type === c.type && r.id === idFor(r.name, r.type, cur.content),
          );
          if (still) chunk.push(c);
          else
            outcomes.push({
              status: "failed",
              change: c,
              error: `[rfc2136] ${c.name} ${c.type} changed since it was read; nothing written, run again`,
            });
        }
        if (chunk.length === 0) continue;
        if (stopped) {
          for (const change of chunk) outcomes.push({ status: "pending", change });
          continue;
        }
        const what = `updating ${chunk.length} record(s) in ${name} (${chunk
          .slice(0, 3)
          .map((c) => `${c.name} ${c.type}`)
          .join(", ")}${chunk.length > 3 ? ", ..." : ""})`;
        try {
          const [answer] = await exchange(updateMessage(name, current, chunk), what);
          const rcode = rcodeOf(answer!);
          if (rcode !== "NOERROR") {
            const why =
              rcode === "NXRRSET" || rcode === "YXRRSET"
                ? "a record changed since it was read, so the server applied nothing (compare-and-swap); run again"
                : rcode === "REFUSED" || rcode === "NOTAUTH"
                  ? "the server refused the update: allow it for this key (BIND allow-update / update-policy, Knot acl action: update)"
                  : "the server applied nothing";
            throw new DnsError(`${rcode} while ${what}: ${why}`, { code: "E_UPDATE", provider: "rfc2136" });
          }
          for (const change of chunk) outcomes.push({ status: "applied", change });
        } catch (error) {
          stopped = true;
          for (const change of chunk) outcomes.push({ status: "failed", change, error: (error as Error).message });
        }
      }
      return outcomes;
    },
  };
}
