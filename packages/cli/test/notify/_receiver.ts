import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  event: { type: string; id: string; step?: { kind: string }; [k: string]: unknown };
}

/**
 * A webhook receiver on loopback: records every POST; `answer` decides each response's status (the
 * nth request, counting from 0), so a test can make it fail first.
 */
export async function startReceiver(answer: (n: number) => number = () => 204) {
  const received: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const status = answer(n++);
      if (status >= 200 && status < 300)
        received.push({
          path: req.url ?? "",
          headers: req.headers,
          body,
          event: JSON.parse(body) as Received["event"],
        });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    requests: () => n,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Checks a delivery's signature as a receiver would (docs/notifications.md). */
export function signatureValid(r: Received, secret: string): boolean {
  const ts = String(r.headers["x-cutover-timestamp"] ?? "");
  const got = Buffer.from(String(r.headers["x-cutover-signature"] ?? ""));
  const want = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex")}`);
  return ts !== "" && got.length === want.length && timingSafeEqual(got, want);
}
