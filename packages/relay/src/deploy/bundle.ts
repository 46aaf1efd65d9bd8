import { createHash } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { RelayError } from "../errors.js";

/** The relay as one file for the old host, with its checksum. */
export interface RelayBundle {
  code: Buffer;
  sha256: string;
  /** Where it was read from or written to. */
  path: string;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Run from dist/ (built): dist/cutover-relay.cjs from dist/main.js. Run from src/ (tests): src/main.ts, kept in memory. */
const fromSource = fileURLToPath(import.meta.url).endsWith(".ts");
const BUNDLE = join(here, "..", "cutover-relay.cjs");
const ENTRY = join(here, "..", fromSource ? "main.ts" : "main.js");

/**
 * Builds the relay into one dependency-free CommonJS file with esbuild: `node cutover-relay.cjs
 * CONFIG.json` on Node 18 or newer. ssh2 is bundled (pure JavaScript; its optional native addons
 * `sshcrypto.node` and `cpu-features` stay out and ssh2 falls back to Node's crypto), so a socket
 * forwarded `via: ssh` to the new host (MySQL) works on an old host that has nothing but `node`.
 */
export async function buildRelayBundle(
  options: { entry?: string; outfile?: string | null } = {},
): Promise<RelayBundle> {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch {
    throw new RelayError("the relay bundle is missing and esbuild is not installed to build it", {
      code: "E_BUNDLE",
      hint: "run npm run build in the cutover checkout (it writes dist/cutover-relay.cjs)",
    });
  }
  const result = await esbuild.build({
    entryPoints: [options.entry ?? ENTRY],
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    external: ["*.node", "cpu-features"],
    banner: {
      js: "#!/usr/bin/env node\n// cutover relay: one file, no dependencies. Usage: node cutover-relay.cjs CONFIG.json",
    },
    legalComments: "none",
    logLevel: "silent",
    write: false,
  });
  const code = Buffer.from(result.outputFiles[0]!.contents);
  const path = options.outfile === undefined ? (fromSource ? null : BUNDLE) : options.outfile;
  if (path !== null) await writeFile(path, code, { mode: 0o644 });
  return { code, sha256: sha256(code), path: path ?? "(in memory)" };
}

/** The bundle built with the package (`npm run build`), rebuilt when older than the relay's code. */
export async function loadRelayBundle(): Promise<RelayBundle> {
  const [b, e] = await Promise.all([stat(BUNDLE).catch(() => undefined), stat(ENTRY).catch(() => undefined)]);
  if (b !== undefined && !fromSource && (e === undefined || b.mtimeMs >= e.mtimeMs)) {
    const code = await readFile(BUNDLE);
    return { code, sha256: sha256(code), path: BUNDLE };
  }
  return buildRelayBundle();
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}
