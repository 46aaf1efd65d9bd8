import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import packet, { type Answer } from "dns-packet";
import { DnsError } from "../errors.js";
import { exchangeTcp } from "./_dns-tcp.js";
import { buildUpdate, contentOf, idFor, rcodeOf, TYPES } from "./_dns-wire.js";
import { parseKeyFile, type TsigKey } from "./_tsig.js";
import { defineProvider } from "./define.js";
import type { DnsProvider, ProviderConfig } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionKinds, OptionsOf } from "@cutover/core/plan";

/** `host`, `host:port` or `[v6]:port` (port 53 by default). */
export function parseServer(text: string): { host: string; port: number } {
  const t = text.trim();
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (v6) return { host: v6[1]!, port: Number(v6[2] ?? 53) };
  const m = /^([^:]+)(?::(\d+))?$/.exec(t);
  if (m) return { host: m[1]!, port: Number(m[2] ?? 53) };
  return { host: t, port: 53 };
}

/** The plan's options for RFC 2136 under `dns:`. */
const options = (k: OptionKinds) => ({
  /** The primary server to send UPDATEs to, `host` or `host:port`. */
  server: k.hostPort,
  /** A TSIG key file: BIND's key block, keymgr's YAML or kdig's `hmac-sha256:name:secret` line. */
  keyFile: k.filePath,
});
export type Rfc2136Options = OptionsOf<typeof options>;

/**
 * A primary server that takes dynamic updates (BIND, Knot, PowerDNS): reads a zone by AXFR (or, when
 * transfers are refused, by direct queries for the apex and the plan's names) and writes with RFC 2136
 * UPDATE messages over TCP, signed with TSIG HMAC-SHA256 from a BIND-style key file. All changes of a zone
 * go in one UPDATE (split at `batchSize`) whose prerequisites require every touched RRset exactly as read:
 * a compare-and-swap the server applies whole or not at all.
 */
export function createRfc2136Provider(config: ProviderConfig<Rfc2136Options>): DnsProvider {
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
  const names = Array.isArray(config.options.names) ? config.options.names.map(normalizeName) : [];
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
    return exchangeTcp({ server, key: await loadKey(), message, what, isAxfr, timeoutMs });
  }

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
          const [answer] = await exchange(buildUpdate(name, current, chunk), what);
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

export const rfc2136Provider = /* @__PURE__ */ defineProvider({
  name: "rfc2136",
  title: "dynamic UPDATE with TSIG (BIND, Knot, PowerDNS)",
  options,
  tokens: [],
  env: [],
  credentials: "a TSIG key file (dns.keyFile)",
  traits: {
    writes: "one DNS UPDATE per zone (split at batchSize), TSIG-signed, over TCP",
    atomic: "compare-and-swap",
    rrsets: true,
    minTtl: 0,
    edge: false,
  },
  template: `  provider: rfc2136               # dynamic UPDATE with TSIG to BIND, Knot or PowerDNS
  server: 192.0.2.53:53
  keyFile: /etc/cutover/tsig.key    # key "name" { algorithm hmac-sha256; secret "..."; };`,
  checkPlan(dns, check) {
    check.file(["keyFile"], dns.keyFile);
  },
  create: createRfc2136Provider,
});
