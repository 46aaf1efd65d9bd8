import { open, readFile, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { UserError } from "../errors.js";

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** Whether a process of this machine still runs (EPERM: it does, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface Lock {
  release(): Promise<void>;
}

/**
 * Takes the runner lock of a state directory: one runner acts at a time. A lock left by a process that
 * no longer runs on this host is taken over; a live one is refused with who holds it.
 */
export async function acquireLock(path: string, command: string, now: Date): Promise<Lock> {
  const me: LockInfo = { pid: process.pid, host: hostname(), command, since: now.toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, "wx", 0o600);
      await fh.writeFile(`${JSON.stringify(me)}\n`);
      await fh.sync();
      await fh.close();
      return {
        async release() {
          const held = await readLock(path);
          if (held && held.pid === me.pid && held.host === me.host) await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const held = await readSettledLock(path);
      if (held === "gone") continue; // released in between
      if (held === "damaged") {
        throw new UserError(`the lock file ${path} is damaged (not a cutover lock record)`, {
          code: "E_LOCK_DAMAGED",
          exitCode: 75,
          details: [
            "cutover cannot tell whether another runner holds this plan, so it does not take over",
            `if no cutover runs for this plan (check \`pgrep -af cutover\`), remove it: rm ${path}`,
          ],
        });
      }
      if (held.host === me.host && !processAlive(held.pid)) {
        await unlink(path).catch(() => {}); // stale: its runner is gone
        continue;
      }
      throw new UserError(
        `another cutover runner holds this plan: pid ${held.pid} on ${held.host} (\`cutover ${held.command}\`) since ${held.since}`,
        {
          code: "E_LOCKED",
          // EX_TEMPFAIL: not a failure of the move; a timer's next tick will do what is due.
          exitCode: 75,
          details: [
            "wait for it to finish, or stop it (Ctrl-C or kill its pid); a lock left by a crashed runner is taken over automatically",
          ],
        },
      );
    }
  }
  throw new UserError(`cannot take the lock ${path}`, { code: "E_LOCKED" });
}

/**
 * Reads a lock another runner holds. A runner writes its record right after creating the file, so an
 * empty or partial one is read again for a moment before it counts as damaged.
 */
async function readSettledLock(path: string): Promise<LockInfo | "gone" | "damaged"> {
  for (let i = 0; ; i++) {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
      throw error;
    }
    const info = parseLock(text);
    if (info) return info;
    if (i >= 10) return "damaged";
    await new Promise((r) => setTimeout(r, 50));
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockInfo>;
    if (typeof v.pid === "number" && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === "string")
      return { pid: v.pid, host: v.host, command: String(v.command ?? "?"), since: String(v.since ?? "?") };
  } catch {
    // not JSON
  }
  return undefined;
}

export async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    return parseLock(await readFile(path, "utf8"));
  } catch {
    return undefined;
  }
}
