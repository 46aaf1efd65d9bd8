import { readdirSync } from "node:fs";
import { expect, test } from "vitest";
import { RawLink, rawPath, type RawHandle } from "../src/raw.js";
import { startServer, waitFor } from "./_helpers.js";

const fds = () => readdirSync("/proc/self/fd").length;

function connectRaw(port: number): Promise<RawHandle> {
  return new Promise((resolve, reject) =>
    rawPath!.connect({ host: "127.0.0.1", port }, 2000, (error, handle) => (handle ? resolve(handle) : reject(error))),
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
