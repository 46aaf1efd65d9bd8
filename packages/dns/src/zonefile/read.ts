import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { fileKind } from "@cutover/core";
import { DnsError } from "../errors.js";

/**
 * The largest zone file read (64 MiB: a zone of ~1 million records). A larger file, like a device or a
 * FIFO given as a zone file (`/dev/urandom` was read for 20 s), is refused before it is read.
 */
export const MAX_ZONE_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Reads a zone file's text, refusing what is not a regular file or is over MAX_ZONE_FILE_BYTES. The check is
 * made on the opened file (O_NONBLOCK, so opening a FIFO does not wait for a writer), not on the path, so the
 * file cannot be swapped between the check and the read.
 */
export async function readZoneText(path: string, options: { label?: string; provider?: string } = {}): Promise<string> {
  const label = options.label ?? path;
  const provider = options.provider === undefined ? {} : { provider: options.provider };
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: unknown) => {
    throw new DnsError(`cannot read the zone file ${label}: ${(error as Error).message}`, {
      code: "E_ZONE_READ",
      ...provider,
      cause: error,
    });
  });
  try {
    const st = await fh.stat();
    if (!st.isFile())
      throw new DnsError(`the zone file ${label} is ${fileKind(st)}, not a regular file`, {
        code: "E_ZONE_READ",
        ...provider,
      });
    if (st.size > MAX_ZONE_FILE_BYTES)
      throw new DnsError(
        `the zone file ${label} is ${(st.size / 1048576).toFixed(0)} MiB, over the ${MAX_ZONE_FILE_BYTES / 1048576} MiB a zone file may be`,
        { code: "E_ZONE_READ", ...provider },
      );
    return await fh.readFile("utf8");
  } finally {
    await fh.close();
  }
}
