import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * TSIG (RFC 8945) signing and verification with HMAC-SHA256, over raw DNS messages. The MAC covers the
 * message (TSIG record removed, ARCOUNT one less, the original ID) followed by the TSIG variables; a
 * response's MAC is prefixed with the request's MAC, and later messages of one TCP stream (AXFR) cover
 * the prior MAC, the messages since and the timers only.
 */
export interface TsigKey {
  name: string;
  algorithm: "hmac-sha256";
  secret: Buffer;
}

export const TSIG_TYPE = 250;
const CLASS_ANY = 255;
const FUDGE = 300;

const KEY_FORMATS =
  'expected BIND\'s key "name" { algorithm hmac-sha256; secret "..."; }; (tsig-keygen), Knot\'s YAML "key: - id: name, algorithm: hmac-sha256, secret: ..." (keymgr -t name hmac-sha256) or the line hmac-sha256:name:secret';

/** Builds a key from its parts, or says what is wrong (never the secret). */
function keyOf(name: string, algorithm: string | undefined, secret: string | undefined): TsigKey {
  const alg = algorithm?.toLowerCase();
  if (alg !== "hmac-sha256")
    throw new Error(`key "${name}" uses ${alg ?? "no algorithm"}; only hmac-sha256 is supported`);
  if (!secret || !/^[A-Za-z0-9+/]+={0,2}$/.test(secret)) throw new Error(`key "${name}" has no base64 secret`);
  return { name: name.toLowerCase().replace(/\.$/, ""), algorithm: alg, secret: Buffer.from(secret, "base64") };
}

/** Knot's `keymgr -t NAME hmac-sha256` output: `key:` then a list of `- id: / algorithm: / secret:` (first key). */
function parseKnotYaml(text: string): TsigKey | undefined {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/\s+#.*$|^\s*#.*$/, ""));
  const start = lines.findIndex((l) => /^key:\s*$/.test(l));
  if (start === -1) return undefined;
  const fields: Record<string, string> = {};
  let items = 0;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "") continue;
    if (!/^\s/.test(line)) break; // the next top-level section
    const m = /^\s*(-\s+)?([a-z-]+):\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    if (m[1] && ++items > 1) break; // the first key only
    fields[m[2]!] = m[3]!.replace(/^(["'])(.*)\1$/, "$2");
  }
  if (!fields.id) throw new Error(`a Knot key section without an id; ${KEY_FORMATS}`);
  return keyOf(fields.id, fields.algorithm, fields.secret);
}

/**
 * Parses a TSIG key file in any of the forms the servers' own tools write: BIND's
 * `key "name" { algorithm hmac-sha256; secret "base64"; };` (tsig-keygen), Knot's YAML (keymgr), or Knot's
 * one-line `hmac-sha256:name:secret` (kdig -y; `name:secret` means hmac-sha256 there too). The first key.
 */
export function parseKeyFile(text: string): TsigKey {
  const body = stripComments(text);
  const m = /key\s+"?([A-Za-z0-9._-]+)"?\s*\{([^}]*)\}/.exec(body);
  if (!m) {
    const knot = parseKnotYaml(text);
    if (knot) return knot;
    // From the text itself: a secret may contain "//", which is not a comment here.
    const line = text
      .split(/\r?\n/)
      .map((l) => l.replace(/^\s*#.*$/, "").trim())
      .find(Boolean);
    const one = line ? /^(?:([A-Za-z0-9-]+):)?([A-Za-z0-9._-]+):([A-Za-z0-9+/]+={0,2})$/.exec(line) : null;
    if (one) return keyOf(one[2]!, one[1] ?? "hmac-sha256", one[3]);
    throw new Error(`no key found; ${KEY_FORMATS}`);
  }
  const algorithm = /algorithm\s+"?([A-Za-z0-9-]+)"?\s*;/.exec(m[2]!)?.[1]?.toLowerCase();
  const secret = /secret\s+"([A-Za-z0-9+/=\s]+)"\s*;/.exec(m[2]!)?.[1]?.replace(/\s/g, "");
  if (algorithm !== "hmac-sha256") {
    throw new Error(`key "${m[1]}" uses ${algorithm ?? "no algorithm"}; only hmac-sha256 is supported`);
  }
  if (!secret) throw new Error(`key "${m[1]}" has no secret "..."`);
  return { name: m[1]!.toLowerCase().replace(/\.$/, ""), algorithm, secret: Buffer.from(secret, "base64") };
}

/**
 * Removes BIND's comments (`#`, `//`, `/* *\/`) outside quoted strings: a base64 secret may contain `//`
 * (about one random 256-bit key in a hundred does), which must not be taken for a comment.
 */
function stripComments(text: string): string {
  let out = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      out += c;
      if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      out += c;
    } else if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      while (i + 1 < text.length && text[i + 1] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end === -1 ? text.length : end + 1;
      out += " ";
    } else out += c;
  }
  return out;
}

/** A domain name in uncompressed, lowercase wire form. */
export function wireName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, "").split(".").filter(Boolean);
  return Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "ascii")])),
    Buffer.from([0]),
  ]);
}

function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function tsigVariables(key: TsigKey, timeSigned: number, fudge: number, error: number, other: Buffer): Buffer {
  const ttl = Buffer.alloc(4);
  return Buffer.concat([
    wireName(key.name),
    u16(CLASS_ANY),
    ttl,
    wireName(key.algorithm),
    u48(timeSigned),
    u16(fudge),
    u16(error),
    u16(other.length),
    other,
  ]);
}

function hmac(key: TsigKey, parts: Buffer[]): Buffer {
  const h = createHmac("sha256", key.secret);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Length of the (possibly compressed) name at `offset`. */
function skipName(buf: Buffer, offset: number): number {
  let o = offset;
  for (;;) {
    const len = buf[o];
    if (len === undefined) throw new Error("truncated name");
    if ((len & 0xc0) === 0xc0) return o + 2 - offset;
    o += len + 1;
    if (len === 0) return o - offset;
  }
}

/** Offset where the last additional record starts when it is a TSIG record, else undefined. */
function tsigOffset(msg: Buffer): number | undefined {
  const counts = [msg.readUInt16BE(4), msg.readUInt16BE(6), msg.readUInt16BE(8), msg.readUInt16BE(10)];
  let o = 12;
  for (let i = 0; i < counts[0]!; i++) o += skipName(msg, o) + 4;
  const rrs = counts[1]! + counts[2]! + counts[3]!;
  let last = -1;
  for (let i = 0; i < rrs; i++) {
    last = o;
    o += skipName(msg, o);
    o += 10 + msg.readUInt16BE(o + 8);
  }
  if (last < 0 || counts[3]! === 0) return undefined;
  const typeAt = last + skipName(msg, last);
  return msg.readUInt16BE(typeAt) === TSIG_TYPE ? last : undefined;
}

export interface SignedRequest {
  message: Buffer;
  mac: Buffer;
}

/** Appends a TSIG record to a request; returns the signed message and its MAC (needed to verify the answer). */
export function signRequest(message: Buffer, key: TsigKey, now = Date.now()): SignedRequest {
  const timeSigned = Math.floor(now / 1000);
  const mac = hmac(key, [message, tsigVariables(key, timeSigned, FUDGE, 0, Buffer.alloc(0))]);
  const rdata = Buffer.concat([
    wireName(key.algorithm),
    u48(timeSigned),
    u16(FUDGE),
    u16(mac.length),
    mac,
    message.subarray(0, 2), // original id
    u16(0),
    u16(0),
  ]);
  const rr = Buffer.concat([
    wireName(key.name),
    u16(TSIG_TYPE),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    u16(rdata.length),
    rdata,
  ]);
  const out = Buffer.concat([message, rr]);
  out.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: out, mac };
}

export class TsigError extends Error {
  override name = "TsigError";
}

const TSIG_ERRORS: Record<number, string> = { 16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC" };

/**
 * Verifies the TSIG records of the messages answering one request (one message, or an AXFR stream).
 * Unsigned messages between signed ones are allowed (RFC 8945 §5.3.1); the last message must be signed.
 */
export class TsigVerifier {
  private prior: Buffer;
  private pending: Buffer[] = [];
  private first = true;
  private readonly key: TsigKey;
  private readonly now: () => number;

  constructor(key: TsigKey, requestMac: Buffer, now: () => number = Date.now) {
    this.key = key;
    this.prior = requestMac;
    this.now = now;
  }

  /** Checks one message; returns it without its TSIG record (ARCOUNT fixed) for decoding. */
  verify(msg: Buffer): Buffer {
    const at = tsigOffset(msg);
    if (at === undefined) {
      if (this.first) throw new TsigError("the server's answer is not signed (TSIG missing); is the key right?");
      this.pending.push(msg);
      return msg;
    }
    const stripped = Buffer.from(msg.subarray(0, at));
    stripped.writeUInt16BE(msg.readUInt16BE(10) - 1, 10);
    let o = at + skipName(msg, at) + 10;
    o += skipName(msg, o); // algorithm
    const timeSigned = msg.readUIntBE(o, 6);
    const fudge = msg.readUInt16BE(o + 6);
    const macLen = msg.readUInt16BE(o + 8);
    const mac = msg.subarray(o + 10, o + 10 + macLen);
    o += 10 + macLen;
    const originalId = msg.readUInt16BE(o);
    const error = msg.readUInt16BE(o + 2);
    const otherLen = msg.readUInt16BE(o + 4);
    const other = msg.subarray(o + 6, o + 6 + otherLen);
    if (error !== 0)
      throw new TsigError(`the server rejected our signature: ${TSIG_ERRORS[error] ?? `TSIG error ${error}`}`);
    const digestMsg = Buffer.from(stripped);
    digestMsg.writeUInt16BE(originalId, 0);
    const vars = this.first
      ? tsigVariables(this.key, timeSigned, fudge, error, other)
      : Buffer.concat([u48(timeSigned), u16(fudge)]);
    const expected = hmac(this.key, [u16(this.prior.length), this.prior, ...this.pending, digestMsg, vars]);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      throw new TsigError("the server's answer has a bad TSIG signature");
    }
    if (Math.abs(this.now() / 1000 - timeSigned) > fudge)
      throw new TsigError("the server's TSIG time is out of range (BADTIME); check clocks");
    this.prior = Buffer.from(mac);
    this.pending = [];
    this.first = false;
    return stripped;
  }
}
