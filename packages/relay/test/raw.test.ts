import { readdirSync } from "node:fs";
import { expect, test } from "vitest";
import { RawLink, rawPath, type RawHandle } from "../src/raw.js";
import { pattern, startServer, waitFor } from "./_helpers.js";

const fds = () => readdirSync("/proc/self/fd").length;

function connectRaw(port: number): Promise<RawHandle> {
  return new Promise((resolve, reject) =>
    rawPath!.connect({ kind: "tcp", host: "127.0.0.1", port }, 2000, undefined, (error, handle) =>
      handle ? resolve(handle) : reject(error),
    ),
  );
}

test.skipIf(rawPath === undefined)(
  "a link reset while a FIN it passed on is still pending is closed all the same: no descriptor leaks",
  async () => {
    // The race: in one loop iteration the relay reads a FIN from one side (and asks a shutdown of the
    // other) and an error from the other side (and resets both). libuv refuses to reset a socket with a
    // shutdown pending (EINVAL) and Node then never closes it: its descriptor leaks and the process spins
    // at exit. Here the shutdown is asked directly, as onRead does, and the link is reset at once.
    const before = fds();
    const up = await startServer((s) => s.resume());
    const a = await connectRaw(up.port);
    const b = await connectRaw(up.port);
    let closedWith: Error | undefined;
    const link = new RawLink(a, b, (e) => (closedWith = e), Date.now());
    const { ShutdownWrap } = (process as unknown as { binding(n: string): { ShutdownWrap: new () => object } }).binding(
      "stream_wrap",
    );
    const req = Object.assign(new ShutdownWrap(), { oncomplete: () => undefined });
    expect(b.shutdown(req)).toBe(0);
    link.upstream.shutting = true;
    link.destroy(new Error("reset by peer"));
    expect(closedWith?.message).toBe("reset by peer");
    await up.close(); // its side of the two connections too
    await waitFor(() => fds() <= before);
  },
);

test.skipIf(rawPath === undefined)(
  "a bulk side reads into a buffer of its own; idle, it gives it back and still forwards every byte",
  async () => {
    // Server A sends a burst when told; server B takes everything. A burst whose last read is small ends
    // on the shared buffer already, so bursts are sent until one ends on a buffer of the side's own.
    let burst: ((b: Buffer) => void) | undefined;
    const a = await startServer((s) => (burst = (b) => s.write(b)));
    const got: Buffer[] = [];
    const b = await startServer((s) => s.on("data", (d: Buffer) => got.push(d)));
    const size = () => got.reduce((n, d) => n + d.length, 0);
    const link = rawPath!.join(await connectRaw(a.port), await connectRaw(b.port), undefined, () => undefined);
    await waitFor(() => burst !== undefined);
    const sent: Buffer[] = [];
    const send = async (bytes: Buffer) => {
      sent.push(bytes);
      const want = size() + bytes.length;
      burst!(bytes);
      await waitFor(() => size() === want);
    };
    for (let i = 0; i < 20 && link.ownBuffers() === 0; i++) await send(pattern(512 * 1024, i + 1));
    expect(link.ownBuffers()).toBeGreaterThan(0); // large reads: read in place, not into the shared buffer
    link.releaseIdleBuffers(); // notes what each side has read
    expect(link.ownBuffers()).toBeGreaterThan(0); // it read since the last call (there was none): kept
    link.releaseIdleBuffers(); // nothing read since: given back
    expect(link.ownBuffers()).toBe(0);
    await send(pattern(256 * 1024, 99));
    expect(Buffer.concat(got).equals(Buffer.concat(sent))).toBe(true);
    link.destroy();
    await a.close();
    await b.close();
  },
);

test.skipIf(rawPath === undefined)(
  "join closes the link before it returns when the PROXY header cannot be written (the handler copes: connection.test.ts)",
  async () => {
    const up = await startServer((s) => s.resume());
    const a = await connectRaw(up.port);
    const b = await connectRaw(up.port);
    // The upstream's sending side is shut already: the header's write fails at once (EPIPE).
    const { ShutdownWrap } = (process as unknown as { binding(n: string): { ShutdownWrap: new () => object } }).binding(
      "stream_wrap",
    );
    await new Promise((resolve) =>
      expect(b.shutdown(Object.assign(new ShutdownWrap(), { oncomplete: resolve }))).toBe(0),
    );
    let returned = false;
    let closedInsideJoin: boolean | undefined;
    let closedWith: Error | undefined;
    const link = rawPath!.join(a, b, Buffer.from("PROXY TCP4 192.0.2.1 198.51.100.10 40001 443\r\n"), (e) => {
      closedInsideJoin = !returned;
      closedWith = e;
    });
    returned = true;
    expect(closedInsideJoin).toBe(true);
    expect(link.closed).toBe(true);
    expect(closedWith?.message).toMatch(/^write E/);
    await up.close();
  },
);
