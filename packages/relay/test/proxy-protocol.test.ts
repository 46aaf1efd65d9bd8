import { readFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodeProxyHeader, encodeProxyV1, encodeProxyV2, startRelay, compressV6 } from "../src/index.js";
import { sleep, startServer, tempDir, waitFor } from "./_helpers.js";
import { freePort, startHaproxy, startNginx, type Proc } from "./_servers.js";

describe("encoding (doc/proxy-protocol.txt)", () => {
  test("v1 lines", () => {
    const e = { sourceAddress: "192.0.2.50", sourcePort: 51234, destAddress: "198.51.100.10", destPort: 25 };
    expect(encodeProxyV1(e).toString()).toBe("PROXY TCP4 192.0.2.50 198.51.100.10 51234 25\r\n");
    expect(
      encodeProxyV1({ ...e, sourceAddress: "::ffff:192.0.2.50", destAddress: "::ffff:198.51.100.10" }).toString(),
    ).toBe("PROXY TCP4 192.0.2.50 198.51.100.10 51234 25\r\n");
    expect(
      encodeProxyV1({ ...e, sourceAddress: "2001:db8:0:0:0:0:0:50", destAddress: "2001:db8::10" }).toString(),
    ).toBe("PROXY TCP6 2001:db8::50 2001:db8::10 51234 25\r\n");
    expect(encodeProxyV1({}).toString()).toBe("PROXY UNKNOWN\r\n");
  });

  test("v2 blocks: signature, version/command, family, length, addresses, ports", () => {
    const v4 = encodeProxyV2({
      sourceAddress: "192.0.2.50",
      sourcePort: 51234,
      destAddress: "198.51.100.10",
      destPort: 443,
    });
    expect(v4.toString("hex")).toBe(
      "0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "c0000232" + "c633640a" + "c822" + "01bb",
    );
    const v6 = encodeProxyV2({ sourceAddress: "2001:db8::50", sourcePort: 1, destAddress: "::1", destPort: 2 });
    expect(v6.subarray(12, 16).toString("hex")).toBe("21210024");
    expect(v6.length).toBe(16 + 36);
    expect(decodeProxyHeader(v6)?.endpoints).toMatchObject({
      sourceAddress: "2001:db8::50",
      destAddress: "::1",
      sourcePort: 1,
      destPort: 2,
    });
    // a unix-socket client has no address: LOCAL, AF_UNSPEC, no address block
    expect(encodeProxyV2({}).subarray(12).toString("hex")).toBe("20000000");
    expect(compressV6("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
  });
});

/** A server that keeps the first bytes of every connection (the PROXY header) and closes. */
async function captureServer(host: string) {
  const got: Buffer[] = [];
  const srv = await startServer(
    (s) => {
      const chunks: Buffer[] = [];
      s.on("data", (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        const h = decodeProxyHeader(all);
        if (h !== undefined && all.length >= h.length + 4) {
          got.push(all);
          s.end();
        }
      });
    },
    { host },
  );
  return { ...srv, got };
}

/** Connects from a chosen source address, sends "ping", returns the local endpoint used. */
async function ping(host: string, port: number, localAddress: string): Promise<{ address: string; port: number }> {
  const s: Socket = await new Promise((resolve, reject) => {
    const c = connect({ host, port, localAddress });
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });
  const local = { address: s.localAddress!, port: s.localPort! };
  s.on("error", () => undefined);
  s.write("ping");
  await new Promise((r) => s.once("close", r));
  return local;
}

describe("the same bytes as HAProxy", () => {
  let dir: { dir: string; remove: () => Promise<void> };
  let haproxy: Proc;
  let cap4: Awaited<ReturnType<typeof captureServer>>;
  let cap6: Awaited<ReturnType<typeof captureServer>>;
  const ports = { v1: 0, v2: 0, v1six: 0, v2six: 0 };

  beforeAll(async () => {
    dir = await tempDir();
    cap4 = await captureServer("127.0.0.1");
    cap6 = await captureServer("::1");
    ports.v1 = await freePort();
    ports.v2 = await freePort();
    ports.v1six = await freePort("::1");
    ports.v2six = await freePort("::1");
    haproxy = await startHaproxy(dir.dir, [
      { bind: "127.0.0.1", port: ports.v1, server: `127.0.0.1:${cap4.port}`, options: "send-proxy" },
      { bind: "127.0.0.1", port: ports.v2, server: `127.0.0.1:${cap4.port}`, options: "send-proxy-v2" },
      { bind: "[::1]", port: ports.v1six, server: `[::1]:${cap6.port}`, options: "send-proxy" },
      { bind: "[::1]", port: ports.v2six, server: `[::1]:${cap6.port}`, options: "send-proxy-v2" },
    ]);
  });
  afterAll(async () => {
    await haproxy?.stop();
    await cap4?.close();
    await cap6?.close();
    await dir?.remove();
  });

  for (const [version, six] of [
    ["v1", false],
    ["v2", false],
    ["v1", true],
    ["v2", true],
  ] as const) {
    test(`${version} over ${six ? "IPv6" : "IPv4"}`, async () => {
      const host = six ? "::1" : "127.0.0.1";
      const from = six ? "::1" : "127.0.0.2";
      const cap = six ? cap6 : cap4;
      const haproxyPort = ports[`${version}${six ? "six" : ""}` as keyof typeof ports];
      const before = cap.got.length;
      const viaHaproxy = await ping(host, haproxyPort, from);
      await waitFor(() => cap.got.length === before + 1);
      const haproxyBytes = cap.got[before]!;

      const relay = await startRelay({
        listeners: [
          { kind: "tcp", host, port: 0, proxyProtocol: version, upstream: { kind: "tcp", host, port: cap.port } },
        ],
      });
      const relayPort = relay.bound()[0]!.port!;
      const viaRelay = await ping(host, relayPort, from);
      await waitFor(() => cap.got.length === before + 2);
      const relayBytes = cap.got[before + 1]!;
      await relay.stop();

      // Each header is exactly what the spec gives for its connection's endpoints...
      const expectFor = (src: { address: string; port: number }, dstPort: number) =>
        (version === "v1" ? encodeProxyV1 : encodeProxyV2)({
          sourceAddress: src.address,
          sourcePort: src.port,
          destAddress: host,
          destPort: dstPort,
        });
      expect(haproxyBytes.subarray(0, -4).toString("hex")).toBe(expectFor(viaHaproxy, haproxyPort).toString("hex"));
      expect(relayBytes.subarray(0, -4).toString("hex")).toBe(expectFor(viaRelay, relayPort).toString("hex"));
      // ...so with the one field that must differ (the ports) put equal, the two are the same bytes.
      const normalize = (b: Buffer, srcPort: number, dstPort: number) => {
        const h = decodeProxyHeader(b)!;
        return (version === "v1" ? encodeProxyV1 : encodeProxyV2)({
          ...h.endpoints,
          sourcePort: srcPort,
          destPort: dstPort,
        }).equals(b.subarray(0, h.length));
      };
      expect(normalize(haproxyBytes, viaHaproxy.port, haproxyPort)).toBe(true);
      expect(normalize(relayBytes, viaRelay.port, relayPort)).toBe(true);
      expect(relayBytes.subarray(-4).toString()).toBe("ping");
    });
  }
});

describe("a real receiver: nginx with listen ... proxy_protocol", () => {
  test("nginx logs the client's address, not the relay's", async () => {
    const t = await tempDir();
    const v1Port = await freePort();
    const v2Port = await freePort();
    const nginx = await startNginx(
      t.dir,
      `log_format pp '$proxy_protocol_addr:$proxy_protocol_port $remote_addr $server_port';
  server {
    listen 127.0.0.1:${v1Port} proxy_protocol;
    listen 127.0.0.1:${v2Port} proxy_protocol;
    access_log ${t.dir}/access.log pp;
    location / { return 200 "hello\\n"; }
  }`,
      [{ port: v1Port }, { port: v2Port }],
    );
    try {
      const relay = await startRelay({
        listeners: [
          {
            kind: "tcp",
            host: "127.0.0.1",
            port: 0,
            proxyProtocol: "v1",
            upstream: { kind: "tcp", host: "127.0.0.1", port: v1Port },
          },
          {
            kind: "tcp",
            host: "127.0.0.1",
            port: 0,
            proxyProtocol: "v2",
            upstream: { kind: "tcp", host: "127.0.0.1", port: v2Port },
          },
        ],
      });
      const seen: string[] = [];
      for (const [i, from] of [
        [0, "127.0.0.7"],
        [1, "127.0.0.8"],
      ] as const) {
        const s: Socket = await new Promise((resolve) => {
          const c = connect({ host: "127.0.0.1", port: relay.bound()[i]!.port!, localAddress: from }, () => resolve(c));
        });
        seen.push(`${from}:${s.localPort}`);
        let body = "";
        s.on("data", (d: Buffer) => (body += d.toString()));
        s.write("GET / HTTP/1.0\r\nHost: x\r\n\r\n");
        await new Promise((r) => s.once("close", r));
        expect(body).toMatch(/200 OK[\s\S]*hello/);
      }
      await relay.stop();
      await sleep(50);
      const log = await readFile(`${t.dir}/access.log`, "utf8");
      expect(log).toContain(`${seen[0]} 127.0.0.1 ${v1Port}`);
      expect(log).toContain(`${seen[1]} 127.0.0.1 ${v2Port}`);
    } finally {
      await nginx.stop();
      await t.remove();
    }
  });
});
