import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * A port free on `host` now (TCP, and UDP too with `udp`), for a server a test starts next. It is taken
 * below the kernel's ephemeral range (ip_local_port_range, 32768–60999 by default): a port from bind(0)
 * lies inside it, and on a busy test run an outgoing connection can take that very number as its source
 * port between this check and the server's own bind (seen as nginx failing with "address in use").
 */
export async function freePort(host = "127.0.0.1", options: { udp?: boolean } = {}): Promise<number> {
  const low = ephemeralLow();
  const from = 10_000;
  const span = low - from;
  for (let i = 0; i < 200; i++) {
    const port = span >= 1_000 ? from + Math.floor(Math.random() * span) : await anyPort(host);
    if ((await tcpFree(port, host)) && (options.udp !== true || (await udpFree(port, host)))) return port;
  }
  throw new Error(`no free port on ${host}`);
}

function ephemeralLow(): number {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    return 32_768;
  }
}

function anyPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(":") ? "udp6" : "udp4");
    s.once("error", () => {
      s.close();
      resolve(false);
    });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}
