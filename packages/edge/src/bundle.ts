import { readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { EdgeError } from "./errors.js";

/**
 * Node built-ins the bundle may import: workerd provides these with `nodejs_compat` (Buffer for dns-packet,
 * AsyncLocalStorage for the Linode provider, randomInt for DNS ids).
 */
const WORKERD_NODE = new Set([
  "buffer",
  "async_hooks",
  "crypto",
  "events",
  "util",
  "stream",
  "string_decoder",
  "process",
]);

const NODE_BUILTINS = new Set(builtinModules.map((m) => m.replace(/^node:/, "")));

/**
 * Modules the providers' core never calls on Workers but whose files import them: `node:dgram` and
 * `node:net` (UDP/TCP DNS queries; the Worker asks over DoH). They become stubs that throw if used;
 * `isIP` gets a real implementation because address comparison uses it.
 */
const STUBS: Record<string, string> = {
  dgram: `export function createSocket() { throw new Error("UDP is not available on Workers; use DoH"); }
export default { createSocket };`,
  net: `const V4 = /^(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}$/;
export function isIPv4(s) { return V4.test(s); }
export function isIPv6(s) {
  if (typeof s !== "string" || !s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const halves = s.split("::");
  if (halves.length > 2) return false;
  let groups = [];
  for (const h of halves) groups.push(h === "" ? [] : h.split(":"));
  const all = groups.flat();
  let n = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i];
    if (i === all.length - 1 && g.includes(".")) { if (!V4.test(g)) return false; n += 2; continue; }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    n += 1;
  }
  return halves.length === 2 ? n < 8 : n === 8;
}
export function isIP(s) { return isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0; }
export function connect() { throw new Error("TCP sockets are not available here; use DoH"); }
export function createServer() { throw new Error("TCP servers are not available here"); }
export class Socket { constructor() { throw new Error("TCP sockets are not available here; use DoH"); } }
export default { isIP, isIPv4, isIPv6, connect, createServer, Socket };`,
};

export interface BundleResult {
  code: string;
  bytes: number;
  /** Node built-ins the bundle imports (all provided by workerd with nodejs_compat). */
  nodeImports: string[];
  warnings: string[];
}

/** Builds the Worker (one ES module) from src/worker/index.ts and the @cutover/dns provider code, with esbuild. */
export async function bundleWorker(options: { entry?: string; minify?: boolean } = {}): Promise<BundleResult> {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (cause) {
    throw new EdgeError("esbuild is needed to build the Worker bundle", { code: "E_EDGE_BUNDLE", cause });
  }
  const entry = options.entry ?? fileURLToPath(new URL("../src/worker/index.ts", import.meta.url));
  const nodeImports = new Set<string>();
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["workerd", "worker", "browser", "import"],
    mainFields: ["module", "main"],
    minify: options.minify ?? false,
    legalComments: "none",
    logLevel: "silent",
    plugins: [
      {
        name: "workerd-node",
        setup(build) {
          // The plan is a module of its own, uploaded beside worker.js (`planModuleText`).
          build.onResolve({ filter: /^\.\/plan\.js$/ }, (args) =>
            /[\\/]worker$/.test(args.resolveDir) ? { path: "./plan.js", external: true } : undefined,
          );
          build.onResolve({ filter: /^(node:)?[a-z_]+(\/[a-z_]+)?$/ }, (args) => {
            const bare = args.path.replace(/^node:/, "");
            if (STUBS[bare] !== undefined) return { path: bare, namespace: "cutover-stub" };
            if (!WORKERD_NODE.has(bare) && !NODE_BUILTINS.has(bare)) return undefined;
            // CommonJS `require("buffer")` cannot reach an external ES module: go through a shim that imports it.
            if (args.kind === "require-call") return { path: bare, namespace: "cutover-node-cjs" };
            // Every other built-in stays an import; the check below refuses one that survives tree-shaking.
            return { path: `node:${bare}`, external: true };
          });
          build.onLoad({ filter: /.*/, namespace: "cutover-node-cjs" }, (args) => ({
            contents: `import * as m from "node:${args.path}"; export default m; export * from "node:${args.path}";`,
            loader: "js",
          }));
          build.onLoad({ filter: /.*/, namespace: "cutover-stub" }, (args) => ({
            contents: STUBS[args.path]!,
            loader: "js",
          }));
          // The @cutover/dns files have no top-level effects: modules the Worker does not use are left out.
          build.onResolve({ filter: /^(@cutover\/dns$|\.)/ }, async (args) => {
            if (args.pluginData === "inner") return undefined;
            if (args.path.startsWith(".") && !/[\\/]dns[\\/]dist[\\/]/.test(args.importer)) return undefined;
            const r = await build.resolve(args.path, {
              kind: args.kind,
              resolveDir: args.resolveDir,
              pluginData: "inner",
            });
            return { ...r, sideEffects: false };
          });
        },
      },
    ],
  });
  const out = result.outputFiles[0];
  if (!out) throw new EdgeError("esbuild produced no output", { code: "E_EDGE_BUNDLE" });
  for (const m of out.text.matchAll(/\bfrom\s*"(node:[^"]+)"|\bimport\s*\(?\s*"(node:[^"]+)"/g)) {
    nodeImports.add((m[1] ?? m[2])!);
  }
  const unsupported = [...nodeImports].filter((m) => !WORKERD_NODE.has(m.slice(5)));
  if (unsupported.length > 0) {
    throw new EdgeError(`the Worker bundle imports ${unsupported.join(", ")}, which Workers do not provide`, {
      code: "E_EDGE_BUNDLE",
      hint: "a module on the Worker's path uses a Node-only API; keep it out of the providers' core",
    });
  }
  return {
    code: out.text,
    bytes: out.contents.byteLength,
    nodeImports: [...nodeImports].sort(),
    warnings: result.warnings.map((w) => w.text),
  };
}

/** Where the build step writes the bundle. */
export function workerBundlePath(): string {
  return fileURLToPath(new URL("../dist/worker.js", import.meta.url));
}

/** The Worker bundle built by `npm run build` (dist/worker.js). */
export async function readWorkerBundle(): Promise<string> {
  try {
    return await readFile(workerBundlePath(), "utf8");
  } catch (cause) {
    throw new EdgeError(`the Worker bundle ${workerBundlePath()} is missing`, {
      code: "E_EDGE_BUNDLE",
      hint: "run `npm run build -w @cutover/edge`",
      cause,
    });
  }
}
