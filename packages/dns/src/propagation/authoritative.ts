import { readFileSync } from "node:fs";
import { DnsError } from "../errors.js";
import { mapLimit } from "../_pool.js";
import { classifyAnswer, typesFor, valuesFor, type Expectation, type Observation } from "./classify.js";
import { canonicalData, sameData } from "./expect.js";
import { queryDns, type QueryOptions } from "./query.js";
import { normalizeName, parseServerSpec, type ServerSpec } from "@cutover/core";

export interface AuthoritativeOptions {
  names: readonly string[];
  expectation: Expectation;
  /**
   * A recursive resolver used to find the apex, the NS sets and the NS addresses (RD=1). Default: the
   * first nameserver in /etc/resolv.conf. It only locates servers; every verdict comes from RD=0 queries.
   */
  bootstrap?: ServerSpec;
  /** The zone apex, when known (skips discovery). */
  apex?: string;
  /** Servers of the parent zone to ask for the delegation (RD=0); false skips the parent check. */
  parent?: readonly ServerSpec[] | false;
  /** NS name → addresses (`ip`, `ip:port`, `[v6]:port`), instead of resolving them (tests, split DNS). */
  nsAddresses?: Readonly<Record<string, readonly string[]>>;
  query?: QueryOptions;
  concurrency?: number;
  now?: () => number;
}

/** What one authoritative server said, at one address. */
export interface AuthoritativeServerResult {
  ns: string;
  address: string;
  serial?: number;
  aa: boolean;
  /** The NS set this server publishes for the apex. */
  nsSet: string[];
  /** One per name and type. */
  answers: Array<{ name: string; type: string; observation: Observation; rrsetMatches: boolean }>;
  ok: boolean;
  problems: string[];
}

export interface ZoneAuthoritativeCheck {
  apex: string;
  names: string[];
  /** NS names in the parent's delegation (undefined when not checked or not found). */
  parentNs?: string[];
  /** NS names the zone itself publishes (from the bootstrap resolver and every server). */
  childNs: string[];
  servers: AuthoritativeServerResult[];
  maxSerial?: number;
  /** Every server answers NEW with AA, NOERROR, the expected RRset and the same serial. */
  complete: boolean;
  problems: string[];
}

export interface AuthoritativeCheck {
  at: number;
  zones: ZoneAuthoritativeCheck[];
  complete: boolean;
  problems: string[];
}

/** The first `nameserver` in /etc/resolv.conf, or undefined. */
export function systemResolver(path = "/etc/resolv.conf"): ServerSpec | undefined {
  try {
    const m = /^\s*nameserver\s+(\S+)/m.exec(readFileSync(path, "utf8"));
    return m ? parseServerSpec(m[1]!.replace(/%.*$/, "")) : undefined;
  } catch {
    return undefined;
  }
}

const nn = (s: string) => normalizeName(s);

/** Finds the zone apex of a name: the owner of the SOA in the answer or the authority section. */
export async function findApex(name: string, bootstrap: ServerSpec, query: QueryOptions = {}): Promise<string> {
  const r = await queryDns(bootstrap, name, "SOA", { ...query, rd: true });
  const resp = r.response;
  if (!resp)
    throw new DnsError(`cannot find the zone of ${name}: ${r.error?.message ?? "no answer"} from ${bootstrap.label}`, {
      code: "E_APEX",
    });
  const own = resp.answers.find((a) => a.type === "SOA" && a.name === nn(name));
  if (own) return own.name;
  const auth = [...resp.answers, ...resp.authorities].find((a) => a.type === "SOA");
  if (auth) return auth.name;
  throw new DnsError(`cannot find the zone of ${name}: ${bootstrap.label} answered ${resp.rcode} without an SOA`, {
    code: "E_APEX",
  });
}

async function nsNames(
  server: ServerSpec,
  apex: string,
  rd: boolean,
  query: QueryOptions,
): Promise<{ names: string[]; glue: Map<string, string[]> }> {
  const r = await queryDns(server, apex, "NS", { ...query, rd });
  const resp = r.response;
  const glue = new Map<string, string[]>();
  if (!resp) return { names: [], glue };
  const from = resp.answers.some((a) => a.type === "NS") ? resp.answers : resp.authorities;
  const names = [...new Set(from.filter((a) => a.type === "NS" && a.name === apex).map((a) => nn(a.data)))].sort();
  for (const add of resp.additionals)
    if (add.type === "A" || add.type === "AAAA") glue.set(add.name, [...(glue.get(add.name) ?? []), add.data]);
  return { names, glue };
}

async function addressesOf(ns: string, bootstrap: ServerSpec | undefined, query: QueryOptions): Promise<string[]> {
  if (!bootstrap) return [];
  const out: string[] = [];
  for (const type of ["A", "AAAA"]) {
    const r = await queryDns(bootstrap, ns, type, { ...query, rd: true });
    for (const a of r.response?.answers ?? []) if (a.type === type) out.push(a.data);
  }
  return out;
}

const specOf = (address: string) => parseServerSpec(address);

/**
 * Asks every authoritative server of each name's zone, at each of its IPv4 and IPv6 addresses, with RD=0:
 * AA and NOERROR are required, SOA serials compared, the RRset compared with the expected one. Names the
 * parent's and the child's NS sets when they differ, and every lagging or disagreeing server with its
 * address and serial.
 */
export async function checkAuthoritative(options: AuthoritativeOptions): Promise<AuthoritativeCheck> {
  const now = options.now ?? Date.now;
  const query: QueryOptions = { timeoutMs: 1500, retries: 1, ...options.query, rd: false };
  const bootstrap = options.bootstrap ?? systemResolver();
  const byApex = new Map<string, string[]>();
  for (const raw of options.names) {
    const name = nn(raw);
    let apex = options.apex ? nn(options.apex) : undefined;
    if (!apex) {
      if (!bootstrap)
        throw new DnsError("no resolver to find the zone apex with; give --bootstrap", { code: "E_APEX" });
      apex = await findApex(name, bootstrap, query);
    }
    byApex.set(apex, [...(byApex.get(apex) ?? []), name]);
  }
  const types = typesFor(options.expectation);
  const zones: ZoneAuthoritativeCheck[] = [];
  for (const [apex, names] of byApex) {
    const problems: string[] = [];
    // Child NS set as the bootstrap resolver sees it; the servers' own answers are added below.
    const glue = new Map<string, string[]>();
    let childNs: string[] = [];
    if (bootstrap) childNs = (await nsNames(bootstrap, apex, true, query)).names;

    // The parent's delegation.
    let parentNs: string[] | undefined;
    if (options.parent !== false) {
      let parents: ServerSpec[] = options.parent ? [...options.parent] : [];
      if (!options.parent && bootstrap && apex.includes(".")) {
        const parentName = apex.slice(apex.indexOf(".") + 1);
        try {
          const parentApex = await findApex(parentName, bootstrap, query);
          const pns = (await nsNames(bootstrap, parentApex, true, query)).names.slice(0, 2);
          for (const n of pns)
            for (const a of (await addressesOf(n, bootstrap, query)).slice(0, 1)) parents.push(specOf(a));
        } catch {
          parents = [];
        }
      }
      for (const p of parents) {
        const got = await nsNames(p, apex, false, query);
        if (got.names.length > 0) {
          parentNs = got.names;
          for (const [k, v] of got.glue) glue.set(k, v);
          break;
        }
      }
      if (parents.length > 0 && !parentNs) problems.push(`the parent zone's servers gave no delegation for ${apex}`);
    }
    let nsList = [...new Set([...(parentNs ?? []), ...childNs])].sort();
    if (nsList.length === 0 && options.nsAddresses) nsList = Object.keys(options.nsAddresses).map(nn).sort();
    if (nsList.length === 0) problems.push(`no NS records found for ${apex}`);

    // Every address of every NS name.
    const targets: Array<{ ns: string; address: string }> = [];
    for (const ns of nsList) {
      const override = options.nsAddresses?.[ns];
      const addrs = override ? [...override] : (glue.get(ns) ?? (await addressesOf(ns, bootstrap, query)));
      if (addrs.length === 0) problems.push(`${ns} has no address (A/AAAA)`);
      for (const a of addrs) targets.push({ ns, address: a });
    }

    const servers = await mapLimit(
      targets,
      options.concurrency ?? 16,
      async ({ ns, address }): Promise<AuthoritativeServerResult> => {
        const server = specOf(address);
        const result: AuthoritativeServerResult = {
          ns,
          address: server.label,
          aa: true,
          nsSet: [],
          answers: [],
          ok: true,
          problems: [],
        };
        const soa = await queryDns(server, apex, "SOA", query);
        if (!soa.response) result.problems.push(`SOA: ${soa.error?.kind ?? "error"}: ${soa.error?.message ?? ""}`);
        else {
          if (soa.response.rcode !== "NOERROR") result.problems.push(`SOA: ${soa.response.rcode}`);
          if (!soa.response.aa) result.aa = false;
          const s = soa.response.answers.find((a) => a.type === "SOA");
          if (s) result.serial = Number(s.data.split(" ")[2]);
        }
        result.nsSet = (await nsNames(server, apex, false, query)).names;
        for (const name of names)
          for (const type of types) {
            const r = await queryDns(server, name, type, query);
            const observation = classifyAnswer(r, options.expectation, now());
            if (r.response && !r.response.aa) result.aa = false;
            if (r.response && r.response.rcode !== "NOERROR")
              result.problems.push(`${name} ${type}: ${r.response.rcode}`);
            // The whole RRset must be the expected one: every expected value there, nothing else.
            const expectedRaw = valuesFor(options.expectation, type)?.expect ?? [];
            const expected = expectedRaw.map((v) => canonicalData(type, v)).sort();
            const got = observation.addresses.map((v) => canonicalData(type, v)).sort();
            const rrsetMatches =
              observation.status === "NEW" &&
              got.length === expected.length &&
              expectedRaw.every((x) => got.some((g) => sameData(type, x, g)));
            if (observation.status === "ERROR") result.problems.push(`${name} ${type}: ${observation.error}`);
            else if (!rrsetMatches)
              result.problems.push(
                `${name} ${type}: answers ${got.join(", ") || observation.status}, expected ${expected.join(", ") || "no records"}`,
              );
            result.answers.push({ name, type, observation, rrsetMatches });
          }
        if (!result.aa) result.problems.push("answers without the AA flag (not authoritative for the zone)");
        result.ok = result.problems.length === 0;
        return result;
      },
    );

    const serials = servers.map((s) => s.serial).filter((s): s is number => s !== undefined);
    const maxSerial = serials.length > 0 ? Math.max(...serials) : undefined;
    for (const s of servers) {
      if (maxSerial !== undefined && s.serial !== undefined && s.serial < maxSerial) {
        s.problems.unshift(`lagging: serial ${s.serial}, ${maxSerial - s.serial} behind ${maxSerial}`);
        s.ok = false;
      }
      for (const n of s.nsSet) if (!childNs.includes(n)) childNs.push(n);
    }
    childNs.sort();
    if (parentNs && parentNs.join(",") !== childNs.join(",")) {
      const onlyParent = parentNs.filter((n) => !childNs.includes(n));
      const onlyChild = childNs.filter((n) => !parentNs!.includes(n));
      problems.push(
        `NS sets differ: ${onlyParent.length ? `only at the parent: ${onlyParent.join(", ")}` : ""}${onlyParent.length && onlyChild.length ? "; " : ""}${onlyChild.length ? `only in the zone: ${onlyChild.join(", ")}` : ""}`,
      );
    }
    for (const s of servers)
      if (!s.ok)
        problems.push(
          `${s.ns} ${s.address}${s.serial !== undefined ? ` (serial ${s.serial})` : ""}: ${s.problems.join("; ")}`,
        );
    const zone: ZoneAuthoritativeCheck = {
      apex,
      names,
      childNs,
      servers,
      complete: servers.length > 0 && servers.every((s) => s.ok) && problems.length === 0,
      problems,
    };
    if (parentNs) zone.parentNs = parentNs;
    if (maxSerial !== undefined) zone.maxSerial = maxSerial;
    zones.push(zone);
  }
  return { at: now(), zones, complete: zones.every((z) => z.complete), problems: zones.flatMap((z) => z.problems) };
}
