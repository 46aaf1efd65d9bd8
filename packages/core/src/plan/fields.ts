import { isIP } from "node:net";
import { z } from "zod";
import { formatDuration, parseDuration } from "../duration.js";
import { parseServerSpec } from "../servers.js";

/**
 * The plan's field types, one validator each, reused wherever a field of that kind appears: every field
 * that names an address, port, host, URL, path, duration, service or command is checked for what it must
 * be. A new field picks its kind from here (and a new kind goes here, not inline in the schema).
 */

/** The longest duration a plan may give (a year): a move is planned in hours or days. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/** A duration written like `30m`, `24h`, `1d` or `1h30m`, from 0 up to a year; parsed to milliseconds. */
export const duration = z.string({ error: "expected a duration such as 30m, 24h or 1d" }).transform((text, ctx) => {
  const ms = text.length > 64 ? undefined : parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `"${clip(text)}" is not a duration; write it like 90s, 30m, 24h, 1d or 1h30m`,
    });
    return z.NEVER;
  }
  if (!(ms <= MAX_DURATION_MS)) {
    ctx.addIssue({
      code: "custom",
      message: `"${clip(text)}" is over a year (${formatDuration(MAX_DURATION_MS)}), longer than any step of a move may wait`,
    });
    return z.NEVER;
  }
  return ms;
});

/** A text shown in a message, cut to a readable length. */
export function clip(text: string, max = 60): string {
  let flat = "";
  for (const ch of text.slice(0, max + 1)) flat += ch < " " || ch === "\u007f" ? "?" : ch;
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

const noZoneId = (s: string) => !s.includes("%");

/** Why an address cannot be a host's address in DNS (an A/AAAA record's content), or undefined if it can. */
function notPublishable(s: string): string | undefined {
  if (s.includes("%")) return "has a zone id (%...): a link-local address is not something DNS can point at";
  const v = s.toLowerCase();
  if (isIP(s) === 4) {
    const [a = 0] = s.split(".").map(Number);
    if (s === "0.0.0.0") return "is the unspecified address";
    if (s === "255.255.255.255") return "is the broadcast address";
    if (a >= 224 && a <= 239) return "is a multicast address";
    return undefined;
  }
  if (v === "::" || /^0*:0*:0*:0*:0*:0*:0*:0*$/.test(v)) return "is the unspecified address";
  if (/^fe[89ab][0-9a-f]?:/.test(v)) return "is link-local (fe80::/10): DNS cannot point at it";
  if (/^ff[0-9a-f]{0,2}:/.test(v)) return "is a multicast address";
  return undefined;
}

/** A host's IPv4 address, as an A record would hold it. */
export const ipv4 = z.string().superRefine((s, ctx) => {
  if (isIP(s) !== 4)
    return void ctx.addIssue({ code: "custom", message: `"${clip(s)}" is not an IPv4 address (e.g. 203.0.113.20)` });
  const why = notPublishable(s);
  if (why) ctx.addIssue({ code: "custom", message: `${s} ${why}` });
});

/** A host's IPv6 address, as an AAAA record would hold it. */
export const ipv6 = z.string().superRefine((s, ctx) => {
  if (isIP(s) !== 6)
    return void ctx.addIssue({ code: "custom", message: `"${clip(s)}" is not an IPv6 address (e.g. 2001:db8::20)` });
  const why = notPublishable(s);
  if (why) ctx.addIssue({ code: "custom", message: `${clip(s)} ${why}` });
});

/** A local address to bind to (any IPv4 or IPv6 address, 0.0.0.0 and :: included). */
export const bindAddress = z.string().refine((s) => isIP(s) !== 0 && noZoneId(s), {
  error: (issue) => `"${clip(String(issue.input))}" is not an IP address to listen on (e.g. 198.51.100.10 or ::)`,
});

export const port = z
  .number({ error: "expected a port number from 1 to 65535" })
  .int({ error: "a port is a whole number from 1 to 65535" })
  .min(1, { error: "a port is from 1 to 65535" })
  .max(65535, { error: "a port is from 1 to 65535" });

const HOSTNAME_RE =
  /^(?=.{1,253}\.?$)([a-z0-9_](?:[a-z0-9-_]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/** A DNS name such as example.com (lowercased, without the final dot). */
export const hostname = z
  .string()
  .regex(HOSTNAME_RE, { error: "expected a DNS name such as example.com" })
  .transform((s) => s.toLowerCase().replace(/\.$/, ""));

/** A host to connect to: an IP address or a DNS name. */
export const host = z
  .string()
  .refine((s) => (isIP(s) !== 0 && noZoneId(s)) || (HOSTNAME_RE.test(s) && !/^\d+(\.\d+)*$/.test(s)), {
    error: (issue) => `"${clip(String(issue.input))}" is not a host: give an IP address or a DNS name`,
  });

/** A server to connect to by TCP: `host`, `host:port`, `IP`, `IP:PORT` or `[IPv6]:PORT` (port 1..65535). */
export const hostPort = z.string().superRefine((t, ctx) => {
  const v6 = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  const m = v6 ?? (isIP(t) === 6 ? [t, t, undefined] : /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(t));
  const fail = (why: string) =>
    ctx.addIssue({
      code: "custom",
      message: `"${clip(t)}" ${why}; e.g. 192.0.2.53, ns1.example.com:53 or [2001:db8::53]:53`,
    });
  if (!m) return fail("is not host or host:port");
  if (v6 && isIP(m[1]!) !== 6) return fail("has brackets around something that is not an IPv6 address");
  if (!host.safeParse(m[1]).success) return fail("has a host that is neither an IP address nor a DNS name");
  if (m[2] !== undefined && !(Number(m[2]) >= 1 && Number(m[2]) <= 65535))
    fail(`has port ${m[2]}, not from 1 to 65535`);
});

/** An http(s) URL (an API base URL): other schemes (file:, javascript:, ...) are refused. */
export const httpUrl = z.string().superRefine((s, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(s);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || url.hostname === "")
    ctx.addIssue({ code: "custom", message: `"${clip(s)}" is not an http:// or https:// URL` });
  else if (url.username || url.password)
    ctx.addIssue({
      code: "custom",
      message: "a URL with a user or password in it; give credentials in the environment",
    });
});

/**
 * A DNS server to query: `IP`, `IP:PORT`, `[IPv6]:PORT`, or (with `urls`) an http(s) DoH URL. Names are not
 * accepted (resolving them would need the resolver being tested). The same parser the watch uses.
 */
export function server(options: { urls: boolean }) {
  return z.string().superRefine((s, ctx) => {
    if (s.includes("%")) {
      ctx.addIssue({ code: "custom", message: `"${clip(s)}": an address with a zone id is not accepted` });
      return;
    }
    try {
      const spec = parseServerSpec(s);
      if (spec.kind === "doh" && !options.urls)
        ctx.addIssue({ code: "custom", message: `"${clip(s)}": give IP or IP:PORT here, not a URL` });
      else if (spec.kind === "doh") httpUrl.parse(s);
    } catch (error) {
      const message = error instanceof z.ZodError ? error.issues[0]?.message : (error as Error).message;
      ctx.addIssue({ code: "custom", message: (message ?? "not a server").replace(/^resolver /, "") });
    }
  });
}

/** `user@host`, `user@host:port`, `host` or `user@[IPv6]:port`, with the port from 1 to 65535. */
export const sshTarget = z.string().superRefine((s, ctx) => {
  const m = /^(?:([a-z_][a-z0-9_.-]{0,31})@)?(\[[0-9a-f:.]+\]|[^@:[\]]+|[0-9a-f:]+)(?::(\d{1,5}))?$/i.exec(s);
  const fail = (why: string) =>
    ctx.addIssue({
      code: "custom",
      message: `"${clip(s)}" ${why}; e.g. root@198.51.100.10 or admin@old.example.com:2222`,
    });
  if (!m) return fail("is not an SSH target");
  const h = m[2]!.startsWith("[") ? m[2]!.slice(1, -1) : m[2]!;
  if (m[2]!.startsWith("[") && isIP(h) !== 6) return fail("has a bracketed host that is not an IPv6 address");
  if (!host.safeParse(h).success) return fail("has a host that is neither an IP address nor a DNS name");
  if (isIP(h) === 6 && !m[2]!.startsWith("[") && m[3] !== undefined)
    return fail("needs [brackets] around an IPv6 address with a port");
  if (m[3] !== undefined && !(Number(m[3]) >= 1 && Number(m[3]) <= 65535))
    return fail(`has port ${m[3]}, not from 1 to 65535`);
});

/**
 * A systemd unit (or, with a stopCommand, whatever that command takes): letters, digits and `: _ . @ -`, not
 * starting with `-`, which `systemctl stop` would read as an option (`--now`, `-rf`).
 */
export const serviceName = z
  .string()
  .max(256, { error: "a service name is at most 256 characters" })
  .regex(/^[A-Za-z0-9:_.@][A-Za-z0-9:_.@-]*$/, {
    error:
      "a service is a plain unit name such as postfix or mariadb.service (letters, digits, : _ . @ -, not starting with -)",
  });

/** A file path (relative to the plan file or absolute). */
export const filePath = z
  .string()
  .min(1, { error: "an empty path" })
  .max(4096, { error: "a path is at most 4096 characters" })
  .refine((s) => !s.includes("\0"), { error: "a path cannot contain a NUL byte" });

/** An absolute unix socket path; the kernel takes at most 107 bytes (sun_path). */
export const socketPath = z
  .string()
  .startsWith("/", { error: "a unix socket path is absolute, e.g. /var/lib/mysql/mysql.sock" })
  .refine((s) => !s.includes("\0"), { error: "a path cannot contain a NUL byte" })
  .refine((s) => Buffer.byteLength(s) <= 107, {
    error: "a unix socket path is at most 107 bytes (the kernel's limit)",
  });

/** A command as argv (run without a shell): the program first, not an option. */
export const argv = z
  .array(
    z
      .string()
      .max(4096)
      .refine((s) => !s.includes("\0"), { error: "an argument cannot contain a NUL byte" }),
  )
  .min(1, { error: 'give the program and its arguments, e.g. [systemctl, stop, "{service}"]' })
  .max(64, { error: "at most 64 arguments" })
  .refine((a) => (a[0] ?? "") !== "" && !a[0]!.startsWith("-"), { error: "the first element is the program to run" });

/** A shell command line (run with /bin/sh -c; placeholders are substituted shell-quoted). */
export const shellCommand = z
  .string()
  .min(1, { error: "an empty command" })
  .max(4096, { error: "a command is at most 4096 characters" })
  .refine((s) => !s.includes("\0"), { error: "a command cannot contain a NUL byte" });
