import { connect } from "node:net";
import packet from "dns-packet";
import { DnsError } from "../errors.js";
import { signRequest, TsigError, TsigVerifier, type TsigKey } from "./_tsig.js";

export interface ExchangeOptions {
  server: { host: string; port: number };
  key: TsigKey;
  /** The request without TSIG: it is signed here. */
  message: Buffer;
  /** What we were doing, for error messages. */
  what: string;
  /** A zone transfer: read messages until the closing SOA. */
  isAxfr?: boolean;
  timeoutMs: number;
}

/** Sends one signed message over TCP and returns the verified answers (several for AXFR). */
export async function exchangeTcp(o: ExchangeOptions): Promise<Buffer[]> {
  const { server, key: k, message, what, isAxfr = false, timeoutMs } = o;
  const where = `${server.host}:${server.port}`;
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
