import { gzipSync } from "node:zlib";
import type { EdgeDeployment, WorkerMetadata } from "./edge-plan.js";

/**
 * The limits Cloudflare applies to a Worker upload, from https://developers.cloudflare.com/workers/platform/limits/
 * (the strictest figures the page and its errors page have given; Workers Free where the plans differ):
 *
 * - Environment variable size: 5 KB per variable (every plan). A `plain_text` or `json` binding is one.
 * - Environment variables: 64 per Worker on Workers Free (128 on Paid). Counted here over every binding.
 * - Worker size: 3 MB after compression on Workers Free (10 MB on Paid), the error being
 *   `workers.api.error.script_too_large` (10027); the page now also gives 64 MiB uncompressed on every plan.
 * - Worker startup time: 1 second to parse and run the top-level scope (error 10021 on upload).
 */
export const WORKER_LIMITS = {
  variableBytes: 5 * 1024,
  bindings: 64,
  gzipBytes: 3 * 1024 * 1024,
  uncompressedBytes: 64 * 1024 * 1024,
  startupMs: 1000,
} as const;

/** What counts against the limits in one upload. */
export interface EdgeUploadSizes {
  bindings: number;
  /** Each plain_text/json binding with its size in bytes (what the 5 KB limit measures). */
  variables: Array<{ name: string; bytes: number }>;
  /** Each module part (worker.js, plan.js) in bytes. */
  modules: Array<{ name: string; bytes: number }>;
  /** All module parts and the metadata, uncompressed and gzipped (what the size limit measures). */
  uploadBytes: number;
  gzipBytes: number;
}

export interface EdgeUploadCheck {
  sizes: EdgeUploadSizes;
  /** One line per limit the upload would exceed; empty when Cloudflare would take it. */
  problems: string[];
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** The size of a variable binding as the Workers API counts it: the text, or the JSON as sent. */
function variableBytes(b: WorkerMetadata["bindings"][number]): number | undefined {
  if (b.type === "plain_text") return Buffer.byteLength(b.text);
  if (b.type === "json") return Buffer.byteLength(JSON.stringify(b.json));
  return undefined;
}

/** Measures an upload (metadata without secret values, the Worker's code, the plan module) against `WORKER_LIMITS`. */
export function checkEdgeUpload(deployment: EdgeDeployment, code: string): EdgeUploadCheck {
  const { metadata } = deployment;
  const variables = metadata.bindings.flatMap((b) => {
    const bytes = variableBytes(b);
    return bytes === undefined ? [] : [{ name: b.name, bytes }];
  });
  const parts = [
    { name: deployment.mainModule, text: code },
    ...deployment.modules.map((m) => ({ name: m.name, text: m.text })),
  ];
  const modules = parts.map((p) => ({ name: p.name, bytes: Buffer.byteLength(p.text) }));
  const all = Buffer.from(JSON.stringify(metadata) + parts.map((p) => p.text).join(""));
  const sizes: EdgeUploadSizes = {
    bindings: metadata.bindings.length,
    variables,
    modules,
    uploadBytes: all.byteLength,
    gzipBytes: gzipSync(all).byteLength,
  };
  const problems: string[] = [];
  for (const v of variables) {
    if (v.bytes > WORKER_LIMITS.variableBytes) {
      problems.push(
        `binding ${v.name} is ${v.bytes} bytes; Cloudflare takes at most ${WORKER_LIMITS.variableBytes} per variable`,
      );
    }
  }
  if (sizes.bindings > WORKER_LIMITS.bindings) {
    problems.push(`${sizes.bindings} bindings; Cloudflare takes at most ${WORKER_LIMITS.bindings} on Workers Free`);
  }
  if (sizes.gzipBytes > WORKER_LIMITS.gzipBytes) {
    problems.push(
      `the upload is ${kib(sizes.gzipBytes)} gzipped; Cloudflare takes at most ${kib(WORKER_LIMITS.gzipBytes)} on Workers Free`,
    );
  }
  if (sizes.uploadBytes > WORKER_LIMITS.uncompressedBytes) {
    problems.push(
      `the upload is ${kib(sizes.uploadBytes)}; Cloudflare takes at most ${kib(WORKER_LIMITS.uncompressedBytes)} uncompressed`,
    );
  }
  return { sizes, problems };
}

/** One line per size, for `--dry-run` and the deploy's output. */
export function describeUploadSizes(s: EdgeUploadSizes): string[] {
  return [
    `modules: ${s.modules.map((m) => `${m.name} ${kib(m.bytes)}`).join(", ")}; upload ${kib(s.uploadBytes)}, ${kib(s.gzipBytes)} gzipped (limit ${kib(WORKER_LIMITS.gzipBytes)} gzipped)`,
    `bindings: ${s.bindings} (limit ${WORKER_LIMITS.bindings}); variables: ${s.variables.map((v) => `${v.name} ${v.bytes} B`).join(", ") || "none"} (limit ${WORKER_LIMITS.variableBytes} B each)`,
  ];
}
