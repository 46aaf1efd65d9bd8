import { readFileSync } from "node:fs";
import { chmod, chown, link, lstat, readlink, rename, symlink, unlink } from "node:fs/promises";
import { connect, type Server } from "node:net";
import { RelayError } from "./errors.js";

/**
 * Makes way for a unix socket at `path`: a stale socket file (nobody accepts on it) is removed, a live
 * one is refused (another program serves it), anything that is not a socket is refused.
 */
export async function clearStaleSocket(path: string): Promise<"absent" | "removed-stale"> {
  let st;
  try {
    st = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw error;
  }
  if (!st.isSocket())
    throw new RelayError(`${path} exists and is not a socket; refusing to replace it`, { code: "E_UNIX_NOT_SOCKET" });
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
  if (live)
    throw new RelayError(`${path} is in use: a program is accepting connections on it (stop it first)`, {
      code: "E_UNIX_IN_USE",
      hint: "the service that owns this socket must stop before the relay can take it over",
    });
  await unlink(path);
  return "removed-stale";
}

/** Listens on a unix socket created with `mode` from the start (umask), then sets owner and group. */
export async function listenUnix(
  server: Server,
  path: string,
  options: { mode: number; owner?: string | undefined; group?: string | undefined; backlog: number },
): Promise<void> {
  await clearStaleSocket(path);
  const uid = options.owner === undefined ? -1 : resolveId(options.owner, "/etc/passwd", "user");
  const gid = options.group === undefined ? -1 : resolveId(options.group, "/etc/group", "group");
  const old = process.umask(0o777 & ~options.mode);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ path, backlog: options.backlog }, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(old);
  }
  await chmod(path, options.mode);
  if (uid !== -1 || gid !== -1) await chown(path, uid, gid);
}

/** A user or group name (or number) to its id, from /etc/passwd or /etc/group. */
export function resolveId(name: string, file: string, what: "user" | "group"): number {
  if (/^\d+$/.test(name)) return Number(name);
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    // fall through to the error below
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  throw new RelayError(`no ${what} named ${name} on this host (looked in ${file})`, { code: "E_UNIX_OWNER" });
}

export function parseMode(text: string | undefined, fallback: number): number {
  return text === undefined ? fallback : Number.parseInt(text, 8);
}

/** A unix socket path the relay took over from a running service (redirect handover). */
export interface UnixTakeover {
  path: string;
  /** The name the relay's socket was bound to; a hard link to it stands at `path`. */
  spare: string;
  ino: number;
  /** What stood at `path` before, when it was a symlink (put back when the relay stops). */
  symlinkTarget: string | undefined;
}

/**
 * Takes over the path of a unix socket that a service still serves, with no moment where the path is
 * missing: the relay listens on `PATH.cutover`, and a hard link to that socket replaces PATH in one
 * rename(2). Clients that open PATH from then on reach the relay; the service keeps its open connections.
 */
export async function takeOverUnix(
  server: Server,
  path: string,
  options: { mode: number; owner?: string | undefined; group?: string | undefined; backlog: number },
): Promise<UnixTakeover> {
  const spare = `${path}.cutover`;
  let symlinkTarget: string | undefined;
  try {
    if ((await lstat(path)).isSymbolicLink()) symlinkTarget = await readlink(path);
  } catch {
    // nothing at PATH yet
  }
  await listenUnix(server, spare, options);
  const ino = (await lstat(spare)).ino;
  const t: UnixTakeover = { path, spare, ino, symlinkTarget };
  await relinkUnix(t);
  return t;
}

/** Puts the relay's socket back at PATH (a service that shuts down unlinks its socket path by name). */
export async function relinkUnix(t: UnixTakeover): Promise<void> {
  const tmp = `${t.path}.cutover-link`;
  await unlink(tmp).catch(() => undefined);
  await link(t.spare, tmp);
  await rename(tmp, t.path);
}

/** Is PATH still the relay's socket? */
export async function isRelayLinked(t: UnixTakeover): Promise<boolean> {
  try {
    return (await lstat(t.path)).ino === t.ino;
  } catch {
    return false;
  }
}

/** When the relay stops: PATH is removed if it is still the relay's, and a symlink that stood there is put back. */
export async function releaseUnix(t: UnixTakeover): Promise<void> {
  if (!(await isRelayLinked(t))) return;
  await unlink(t.path).catch(() => undefined);
  if (t.symlinkTarget !== undefined) await symlink(t.symlinkTarget, t.path).catch(() => undefined);
}
