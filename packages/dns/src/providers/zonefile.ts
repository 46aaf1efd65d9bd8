import { execFile } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { promisify } from "node:util";
import { readZoneText } from "../zonefile/read.js";
import { DnsError } from "../errors.js";
import { writeFileAtomic } from "../fs-atomic.js";
import { editZoneFile } from "../zonefile/edit.js";
import { parseZoneFile, type ZoneFile } from "../zonefile/parse.js";
import { defineProvider } from "./define.js";
import type { DnsProvider, ProviderConfig } from "./types.js";
import { normalizeName, type DnsRecord, type Zone, type ChangeOutcome, type RecordChange } from "@cutover/core";
import type { OptionKinds, OptionsOf } from "@cutover/core/plan";

const run = promisify(execFile);

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The plan's options for zone files under `dns:`. */
const options = ({ z, ...k }: OptionKinds) => ({
  /** Zone name → zone file path (relative to the plan file). */
  files: z.record(k.hostname, k.filePath),
  /** Run after writing a zone, e.g. `knotc zone-reload {zone}`; {zone} and {file} are replaced. */
  reload: k.shellCommand.optional(),
});
export type ZonefileOptions = OptionsOf<typeof options>;

/**
 * Zone files managed by hand or by a config tool and served by NSD, BIND or Knot. Changes edit only the
 * tokens they must (comments and layout stay), bump the SOA serial, write atomically, then run the plan's
 * reload command (`knotc zone-reload {zone}`, `rndc reload {zone}`, `nsd-control reload {zone}`).
 */
export function createZonefileProvider(config: ProviderConfig<ZonefileOptions>): DnsProvider {
  const files: Record<string, string> = config.options.files ?? {};
  const reload = config.options.reload;
  const pathOf = (zone: string): string => {
    const entry = Object.entries(files).find(([z]) => normalizeName(z) === normalizeName(zone));
    if (!entry) {
      throw new DnsError(`no zone file configured for ${zone}`, {
        code: "E_ZONE_UNKNOWN",
        provider: "zonefile",
        hint: `add "${zone}: path/to/${zone}.zone" under dns.files`,
      });
    }
    return isAbsolute(entry[1]) ? entry[1] : resolve(config.baseDir, entry[1]);
  };
  const read = async (zone: string): Promise<{ path: string; parsed: ZoneFile }> => {
    const path = pathOf(zone);
    const text = await readZoneText(path, { label: `for ${zone} at ${path}`, provider: "zonefile" });
    return { path, parsed: parseZoneFile(text, { origin: zone, file: path }) };
  };

  // A reload is pending from before the zone file is written until the reload command succeeds, recorded
  // in a marker file beside the zone file: a failed reload, or a crash in between, is finished later.
  const markerOf = (path: string) => join(dirname(path), `.${basename(path)}.reload-pending`);
  const reloadCommand = (zone: string, path: string) =>
    reload!.replaceAll("{zone}", shellQuote(normalizeName(zone))).replaceAll("{file}", shellQuote(path));
  const runReload = async (zone: string, path: string): Promise<void> => {
    const command = reloadCommand(zone, path);
    try {
      await run("/bin/sh", ["-c", command], { timeout: 30_000 });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      const why = (e.stderr || e.message).trim().split("\n").slice(-2).join(" ");
      throw new DnsError(
        `zone file written, but the reload command failed (${why}); the reload stays pending and is run again on the next attempt (\`${command}\`)`,
        { code: "E_ZONE_RELOAD", provider: "zonefile", cause: error },
      );
    }
    await rm(markerOf(path), { force: true });
  };

  return {
    name: "zonefile",
    capabilities: {
      minTtl: 1,
      maxTtl: 2 ** 31 - 1,
      batch: true,
      proxied: false,
      atomicSwap: false,
    },
    async listZones(): Promise<Zone[]> {
      return Object.keys(files).map((z) => ({ id: normalizeName(z), name: normalizeName(z) }));
    },
    async listRecords(zone: string): Promise<DnsRecord[]> {
      const { parsed } = await read(zone);
      return parsed.entries.map((e) => e.record);
    },
    async finishPending(zone: string): Promise<string | undefined> {
      if (!reload) return undefined;
      const path = pathOf(zone);
      const pending = await readFile(markerOf(path), "utf8").then(
        () => true,
        () => false,
      );
      if (!pending) return undefined;
      await runReload(zone, path);
      return `${normalizeName(zone)}: reloaded (a reload left pending by an earlier attempt)`;
    },
    async applyChanges(zone: string, changes: readonly RecordChange[]): Promise<ChangeOutcome[]> {
      try {
        const { path, parsed } = await read(zone);
        const text = editZoneFile(
          parsed,
          changes.map((c) => ({ id: c.id, after: c.after })),
          { today: new Date(), file: path },
        );
        if (reload)
          await writeFileAtomic(markerOf(path), `${JSON.stringify({ zone, since: new Date().toISOString() })}\n`, {
            mode: 0o600,
          });
        await writeFileAtomic(path, text);
        if (reload) {
          try {
            await runReload(zone, path);
          } catch (error) {
            return changes.map((change) => ({ status: "failed" as const, change, error: (error as Error).message }));
          }
        }
        return changes.map((change) => ({ status: "applied" as const, change }));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return changes.map((change) => ({ status: "failed" as const, change, error: message }));
      }
    },
  };
}

export const zonefileProvider = /* @__PURE__ */ defineProvider({
  name: "zonefile",
  title: "zone files served by NSD, BIND or Knot",
  options,
  tokens: [],
  env: [],
  credentials: "write permission on the zone files",
  traits: {
    writes: "edits the zone file in place (serial bumped), then runs reload",
    atomic: "file",
    rrsets: false,
    minTtl: 0,
    edge: false,
  },
  template: `  provider: zonefile              # zone files you serve with NSD, BIND or Knot
  files: { example.com: /etc/knot/zones/example.com.zone }
  reload: knotc zone-reload {zone}  # run after each write; {zone} and {file} are replaced`,
  checkPlan(dns, check) {
    for (const zone of dns.zones) {
      if (!Object.hasOwn(dns.files, zone))
        check.problem(["files"], `no zone file for ${zone}; add "${zone}: path/to/${zone}.zone"`);
    }
    const zones = new Set(dns.zones);
    for (const zone of Object.keys(dns.files))
      if (!zones.has(zone)) check.warning(`dns.files names ${zone}, which is not in dns.zones: that file is not used`);
    for (const [zone, file] of Object.entries(dns.files)) check.file(["files", zone], file);
  },
  create: createZonefileProvider,
});
