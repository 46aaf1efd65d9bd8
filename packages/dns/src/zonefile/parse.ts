import { CutoverError, absoluteName, normalizeName, type DnsRecord } from "@cutover/core";

/** A token of a zone file with its position in the text, so edits can replace exactly that token. */
export interface ZoneToken {
  text: string;
  start: number;
  end: number;
  quoted: boolean;
}

/** One resource record as written in the file. */
export interface ZoneEntry {
  record: DnsRecord;
  /** Owner, TTL, class and type tokens as written (undefined when left out). */
  ownerToken: ZoneToken | undefined;
  ttlToken: ZoneToken | undefined;
  typeToken: ZoneToken;
  rdata: ZoneToken[];
  /** The TTL was inherited ($TTL, the previous record, or the SOA minimum). */
  ttlImplicit: boolean;
}

export interface ZoneFile {
  origin: string;
  text: string;
  entries: ZoneEntry[];
  /** The SOA serial token, for bumping in place. */
  serial: { value: number; token: ZoneToken } | undefined;
}

export class ZoneFileError extends CutoverError {
  override name = "ZoneFileError";
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`, { code: "E_ZONEFILE" });
    this.line = line;
  }
}

const CLASSES = new Set(["IN", "CH", "HS", "CS"]);
const TTL_RE = /^(\d+[wdhms]?)+$/i;

/** `3600`, `1h`, `1h30m`, `1W2D` → seconds. */
export function parseTtlText(text: string): number | undefined {
  if (!TTL_RE.test(text)) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const units: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
  let total = 0;
  for (const m of text.toLowerCase().matchAll(/(\d+)([wdhms]?)/g)) total += Number(m[1]) * (units[m[2] || "s"] ?? 1);
  return total;
}

interface Logical {
  tokens: ZoneToken[];
  ownerBlank: boolean;
  line: number;
}

/** Splits the text into logical lines (parentheses join lines), dropping comments, keeping positions. */
function tokenize(text: string, file: string): Logical[] {
  const out: Logical[] = [];
  let i = 0;
  let line = 1;
  let depth = 0;
  let current: Logical | undefined;
  const flush = () => {
    if (current && current.tokens.length > 0) out.push(current);
    current = undefined;
  };
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === "\n") {
      line++;
      i++;
      if (depth === 0) flush();
      continue;
    }
    if (current === undefined) current = { tokens: [], ownerBlank: ch === " " || ch === "\t", line };
    if (ch === " " || ch === "\t" || ch === "\r") {
      i++;
      continue;
    }
    if (ch === ";") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (ch === "(") {
      depth++;
      i++;
      continue;
    }
    if (ch === ")") {
      if (depth === 0) throw new ZoneFileError(file, line, "unbalanced ')'");
      depth--;
      i++;
      continue;
    }
    const start = i;
    if (ch === '"') {
      i++;
      let value = "";
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) {
          const m = /^\\(\d{3})/.exec(text.slice(i, i + 4));
          if (m) {
            value += String.fromCharCode(Number(m[1]));
            i += 4;
            continue;
          }
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (text[i] === "\n") line++;
        value += text[i];
        i++;
      }
      if (i >= text.length) throw new ZoneFileError(file, line, "unterminated quoted string");
      i++;
      current.tokens.push({ text: value, start, end: i, quoted: true });
      continue;
    }
    while (i < text.length && !/[\s;()"]/.test(text[i]!)) {
      if (text[i] === "\\") i++;
      i++;
    }
    current.tokens.push({ text: text.slice(start, i), start, end: i, quoted: false });
  }
  if (depth !== 0) throw new ZoneFileError(file, line, "unbalanced '(': a multi-line record is not closed");
  flush();
  return out;
}

/**
 * Parses an RFC 1035 master file: $ORIGIN, $TTL, relative names, `@`, blank owners, multi-line records in
 * parentheses, comments, quoted TXT strings, TTLs with units. Positions are kept so edits change only the
 * tokens they must, leaving comments and layout as they were.
 */
export function parseZoneFile(text: string, options: { origin: string; file?: string }): ZoneFile {
  const file = options.file ?? "zone";
  let origin = normalizeName(options.origin);
  const zone = origin;
  let defaultTtl: number | undefined;
  let lastTtl: number | undefined;
  let lastOwner: string | undefined;
  let soaMinimum: number | undefined;
  const entries: ZoneEntry[] = [];
  let serial: ZoneFile["serial"];
  const ordinals = new Map<string, number>();

  for (const logical of tokenize(text, file)) {
    const [first] = logical.tokens;
    if (!first) continue;
    if (!logical.ownerBlank && first.text.startsWith("$")) {
      const directive = first.text.toUpperCase();
      const arg = logical.tokens[1]?.text;
      if (directive === "$ORIGIN" && arg) origin = absoluteName(arg, origin);
      else if (directive === "$TTL" && arg) {
        const t = parseTtlText(arg);
        if (t === undefined) throw new ZoneFileError(file, logical.line, `$TTL ${arg} is not a TTL`);
        defaultTtl = t;
      } else if (directive === "$INCLUDE") {
        throw new ZoneFileError(file, logical.line, "$INCLUDE is not supported; inline the included file");
      }
      // $GENERATE and unknown directives are kept as written and not interpreted.
      continue;
    }
    let k = 0;
    let ownerToken: ZoneToken | undefined;
    let owner: string;
    if (logical.ownerBlank) {
      if (lastOwner === undefined)
        throw new ZoneFileError(file, logical.line, "a record without an owner name comes first");
      owner = lastOwner;
    } else {
      ownerToken = first;
      owner = absoluteName(first.text, origin);
      k = 1;
    }
    let ttlToken: ZoneToken | undefined;
    let ttl: number | undefined;
    let typeToken: ZoneToken | undefined;
    for (; k < logical.tokens.length; k++) {
      const t = logical.tokens[k]!;
      if (ttlToken === undefined && !t.quoted && TTL_RE.test(t.text)) {
        ttlToken = t;
        ttl = parseTtlText(t.text);
      } else if (CLASSES.has(t.text.toUpperCase())) {
        continue;
      } else {
        typeToken = t;
        k++;
        break;
      }
    }
    if (!typeToken) throw new ZoneFileError(file, logical.line, "record has no type");
    const type = typeToken.text.toUpperCase();
    const rdata = logical.tokens.slice(k);
    const implicit = ttl === undefined;
    if (type === "SOA") {
      const min = parseTtlText(rdata[6]?.text ?? "");
      soaMinimum = min;
      const s = rdata[2];
      if (!s || !/^\d+$/.test(s.text))
        throw new ZoneFileError(file, logical.line, "SOA serial is missing or not a number");
      serial = { value: Number(s.text), token: s };
    }
    const effectiveTtl = ttl ?? defaultTtl ?? lastTtl ?? soaMinimum ?? 3600;
    if (ttl !== undefined) lastTtl = ttl;
    lastOwner = owner;
    const content = contentOf(type, rdata, origin);
    const key = `${owner}/${type}`;
    const n = (ordinals.get(key) ?? 0) + 1;
    ordinals.set(key, n);
    entries.push({
      record: {
        id: n === 1 ? key : `${key}#${n}`,
        zone,
        name: owner,
        type,
        content,
        ttl: effectiveTtl,
      },
      ownerToken,
      ttlToken,
      typeToken,
      rdata,
      ttlImplicit: implicit,
    });
  }
  return { origin: zone, text, entries, serial };
}

const NAME_TYPES = new Set(["CNAME", "NS", "PTR", "DNAME"]);

function contentOf(type: string, rdata: readonly ZoneToken[], origin: string): string {
  const texts = rdata.map((t) => t.text);
  if (type === "TXT" || type === "SPF") return texts.join("");
  if (NAME_TYPES.has(type) && texts[0]) return absoluteName(texts[0], origin);
  if (type === "MX" && texts.length >= 2) return `${texts[0]} ${absoluteName(texts[1]!, origin)}`;
  if (type === "SRV" && texts.length >= 4) return `${texts.slice(0, 3).join(" ")} ${absoluteName(texts[3]!, origin)}`;
  if (type === "SOA" && texts.length >= 7)
    return [absoluteName(texts[0]!, origin), absoluteName(texts[1]!, origin), ...texts.slice(2)].join(" ");
  if (type === "AAAA" || type === "A") return (texts[0] ?? "").toLowerCase();
  return texts.join(" ");
}
