import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { UsageError } from "../errors.js";

/**
 * Checks, before any work starts, that a file can be written at `path` (its directory exists and is
 * writable; the path is not a directory), so a command does not run for a minute and fail at the end.
 */
export async function checkOutputPath(flag: string, path: string): Promise<void> {
  const dir = dirname(path);
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat) throw new UsageError(`${flag} ${path}: the directory ${dir} does not exist`);
  if (!dirStat.isDirectory()) throw new UsageError(`${flag} ${path}: ${dir} is not a directory`);
  const fileStat = await stat(path).catch(() => undefined);
  if (fileStat?.isDirectory()) throw new UsageError(`${flag} ${path}: that is a directory; give a file name`);
  const writable = await access(fileStat ? path : dir, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!writable)
    throw new UsageError(`${flag} ${path}: ${fileStat ? "the file" : `the directory ${dir}`} is not writable`);
}
