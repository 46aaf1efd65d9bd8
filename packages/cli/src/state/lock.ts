import { open, readFile, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { UserError } from "../errors.js";

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
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
      const held = await readLock(path);
      if (held && held.host === me.host && !alive(held.pid)) {
        await unlink(path).catch(() => {}); // stale: its runner is gone
        continue;
      }
      if (!held) {
        await unlink(path).catch(() => {});
        continue;
      }
      throw new UserError(
        `another cutover runner holds this plan: pid ${held.pid} on ${held.host} (\`cutover ${held.command}\`) since ${held.since}`,
        {
          code: "E_LOCKED",
          details: [
            "wait for it to finish, or stop it (Ctrl-C or kill its pid); a lock left by a crashed runner is taken over automatically",
          ],
        },
      );
    }
  }
  throw new UserError(`cannot take the lock ${path}`, { code: "E_LOCKED" });
}

export async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as LockInfo;
  } catch {
    return undefined;
  }
}
