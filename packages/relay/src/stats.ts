/**
 * Per-listener and per-client counters. Byte counts come from the sockets' own counters when a
 * connection closes (and live for open ones when asked), so the data path does no bookkeeping.
 */
import type { RestartRecord } from "./supervise.js";
import type { HandoverStatus } from "@cutover/core";
export interface ListenerStats {
  name: string;
  kind: "tcp" | "unix" | "udp";
  /** Where it listens, e.g. `[::]:80` or `/var/lib/mysql/mysql.sock`. */
  listen: string;
  upstream: string;
  proxyProtocol: string | null;
  active: number;
  total: number;
  /** Reset at once because maxConnections was reached. */
  refused: number;
  /** The upstream could not be reached (or timed out). */
  failed: number;
  /** Bytes from clients to the upstream, and back. */
  bytesIn: number;
  bytesOut: number;
}

export interface ClientStats {
  /** The client's IP address (IPv4-mapped IPv6 shown as IPv4), or `unix` for unix-socket clients. */
  address: string;
  active: number;
  total: number;
  bytesIn: number;
  bytesOut: number;
  firstSeen: string;
  lastSeen: string;
  /** Listener names this client used. */
  listeners: string[];
}

export interface RelayStatus {
  pid: number;
  startedAt: string;
  now: string;
  state: "running" | "draining" | "stopped";
  drainDeadline: string | null;
  active: number;
  total: number;
  listeners: ListenerStats[];
  /** Most recently seen first. */
  clients: ClientStats[];
  handover: HandoverStatus | null;
  /** With `workers` > 1: each process's share (the first is the main one). */
  workers?: WorkerStats[];
  /** Under a supervisor: how many times the relay was restarted before this process, and the last restart. */
  restarts?: RestartRecord;
}

/** Where an open connection's byte counts are read from: the client socket itself (bytes from / to the client). */
export interface ByteCounters {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** One open connection as the stats see it: where to read byte counts from. */
export interface LiveConnection {
  listener: ListenerStats;
  client: ClientStats;
  counters: ByteCounters;
}

interface ClientEntry {
  stats: ClientStats;
  first: number;
  last: number;
  listeners: Set<string>;
}

export interface StatsStore {
  listener(
    stats: Omit<ListenerStats, "active" | "total" | "refused" | "failed" | "bytesIn" | "bytesOut">,
  ): ListenerStats;
  /** Records a new connection (or UDP flow) from `address` on `listener`. */
  open(listener: ListenerStats, address: string, counters: ByteCounters): LiveConnection;
  close(conn: LiveConnection): void;
  /** Records datagram bytes for a UDP flow's client (counted as they pass). */
  addBytes(conn: LiveConnection, bytesIn: number, bytesOut: number): void;
  readonly active: number;
  readonly total: number;
  /** Time of the last open or close (ms since epoch). */
  readonly lastActivity: number;
  snapshot(): { listeners: ListenerStats[]; clients: ClientStats[]; active: number; total: number };
}

export function normalizeAddress(address: string | undefined): string {
  if (address === undefined || address === "") return "unix";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

export function createStatsStore(options: { maxClients: number; now: () => number }): StatsStore {
  const listeners: ListenerStats[] = [];
  const clients = new Map<string, ClientEntry>();
  const live = new Set<LiveConnection & { entry: ClientEntry }>();
  let active = 0;
  let total = 0;
  let lastActivity = options.now();

  const evict = () => {
    if (clients.size <= options.maxClients) return;
    // Map keeps insertion order and entries are re-inserted when seen: the first ones are the stalest.
    for (const [key, e] of clients) {
      if (clients.size <= options.maxClients) break;
      if (e.stats.active === 0) clients.delete(key);
    }
  };

  return {
    listener(s) {
      const full: ListenerStats = { ...s, active: 0, total: 0, refused: 0, failed: 0, bytesIn: 0, bytesOut: 0 };
      listeners.push(full);
      return full;
    },
    open(listener, rawAddress, counters) {
      const address = normalizeAddress(rawAddress);
      const t = options.now();
      let entry = clients.get(address);
      if (entry === undefined) {
        entry = {
          stats: { address, active: 0, total: 0, bytesIn: 0, bytesOut: 0, firstSeen: "", lastSeen: "", listeners: [] },
          first: t,
          last: t,
          listeners: new Set(),
        };
      } else clients.delete(address);
      clients.set(address, entry);
      entry.last = t;
      entry.listeners.add(listener.name);
      entry.stats.active++;
      entry.stats.total++;
      listener.active++;
      listener.total++;
      active++;
      total++;
      lastActivity = t;
      evict();
      const conn = { listener, client: entry.stats, counters, entry };
      live.add(conn);
      return conn;
    },
    close(conn) {
      const c = conn as LiveConnection & { entry: ClientEntry };
      if (!live.delete(c)) return;
      const bytesIn = c.counters.bytesRead;
      const bytesOut = c.counters.bytesWritten;
      c.listener.active--;
      c.listener.bytesIn += bytesIn;
      c.listener.bytesOut += bytesOut;
      c.client.active--;
      c.client.bytesIn += bytesIn;
      c.client.bytesOut += bytesOut;
      c.entry.last = options.now();
      active--;
      lastActivity = options.now();
    },
    addBytes(conn, bytesIn, bytesOut) {
      conn.listener.bytesIn += bytesIn;
      conn.listener.bytesOut += bytesOut;
      conn.client.bytesIn += bytesIn;
      conn.client.bytesOut += bytesOut;
      (conn as LiveConnection & { entry: ClientEntry }).entry.last = options.now();
    },
    get active() {
      return active;
    },
    get total() {
      return total;
    },
    get lastActivity() {
      return lastActivity;
    },
    snapshot() {
      const ls = listeners.map((l) => ({ ...l }));
      const byName = new Map(ls.map((l) => [l.name, l]));
      const cs = new Map<string, ClientStats>();
      for (const [key, e] of clients) {
        cs.set(key, {
          ...e.stats,
          firstSeen: new Date(e.first).toISOString(),
          lastSeen: new Date(e.last).toISOString(),
          listeners: [...e.listeners],
        });
      }
      for (const c of live) {
        const bytesIn = c.counters.bytesRead;
        const bytesOut = c.counters.bytesWritten;
        const l = byName.get(c.listener.name);
        if (l) {
          l.bytesIn += bytesIn;
          l.bytesOut += bytesOut;
        }
        const s = cs.get(c.client.address);
        if (s) {
          s.bytesIn += bytesIn;
          s.bytesOut += bytesOut;
          s.lastSeen = new Date(options.now()).toISOString();
        }
      }
      return { listeners: ls, clients: [...cs.values()].reverse(), active, total };
    },
  };
}

/** One process's share of a relay that runs several (`workers`), as its status lists them. */
export interface WorkerStats {
  pid: number;
  active: number;
  total: number;
}

/**
 * The status of a relay served by several processes: the main one's, with the helpers' counts added per
 * listener (by name) and per client (by address), first and last seen the earliest and the latest.
 */
export function mergeStatuses(main: RelayStatus, helpers: RelayStatus[], maxClients: number): RelayStatus {
  if (helpers.length === 0) return main;
  const listeners = main.listeners.map((l) => ({ ...l }));
  const byName = new Map(listeners.map((l) => [l.name, l]));
  const clients = new Map(main.clients.map((c) => [c.address, { ...c, listeners: [...c.listeners] }]));
  let active = main.active;
  let total = main.total;
  for (const h of helpers) {
    active += h.active;
    total += h.total;
    for (const l of h.listeners) {
      const m = byName.get(l.name);
      if (m === undefined) continue;
      m.active += l.active;
      m.total += l.total;
      m.refused += l.refused;
      m.failed += l.failed;
      m.bytesIn += l.bytesIn;
      m.bytesOut += l.bytesOut;
    }
    for (const c of h.clients) {
      const m = clients.get(c.address);
      if (m === undefined) {
        clients.set(c.address, { ...c, listeners: [...c.listeners] });
        continue;
      }
      m.active += c.active;
      m.total += c.total;
      m.bytesIn += c.bytesIn;
      m.bytesOut += c.bytesOut;
      if (c.firstSeen < m.firstSeen) m.firstSeen = c.firstSeen;
      if (c.lastSeen > m.lastSeen) m.lastSeen = c.lastSeen;
      for (const name of c.listeners) if (!m.listeners.includes(name)) m.listeners.push(name);
    }
  }
  const sorted = [...clients.values()].sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
  return {
    ...main,
    active,
    total,
    listeners,
    clients: sorted.slice(0, maxClients),
    workers: [main, ...helpers].map((s) => ({ pid: s.pid, active: s.active, total: s.total })),
  };
}
