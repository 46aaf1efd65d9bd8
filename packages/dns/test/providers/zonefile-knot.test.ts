import { join } from "node:path";
import { expect } from "vitest";
import { createRfc2136Provider, createZonefileProvider, type DnsProvider } from "../../src/index.js";
import { CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { startKnot, zoneText } from "@cutover/testkit";

/**
 * The zone-file provider against files a real Knot serves: every write is followed by `knotc zone-reload`,
 * and the harness checks over AXFR that Knot then serves exactly what the file says.
 */
testProvider("zonefile (files served by a real Knot)", async () => {
  const knot = await startKnot({ [CONTRACT_ZONE]: zoneText(CONTRACT_ZONE, CONTRACT_SEED) });
  const conf = join(knot.dir, "knot.conf");
  const sock = join(knot.dir, "knot.sock");
  const files = createZonefileProvider({
    provider: "zonefile",
    zones: [CONTRACT_ZONE],
    options: {
      files: { [CONTRACT_ZONE]: knot.zoneFile(CONTRACT_ZONE) },
      reload: `knotc -c ${conf} -s ${sock} -b zone-reload {zone}`,
    },
    baseDir: knot.dir,
    env: {},
  });
  const served = createRfc2136Provider({
    provider: "rfc2136",
    zones: [CONTRACT_ZONE],
    options: { server: `127.0.0.1:${knot.port}`, keyFile: knot.keyFile },
    baseDir: "/",
    env: {},
  });
  const view = (rs: Awaited<ReturnType<DnsProvider["listRecords"]>>) =>
    rs
      .filter((r) => ["A", "AAAA", "MX", "TXT", "CNAME"].includes(r.type))
      .map((r) => `${r.name} ${r.ttl} ${r.type} ${r.content.toLowerCase()}`)
      .sort();
  const provider: DnsProvider = {
    ...files,
    async applyChanges(zone, changes, options) {
      const outcomes = await files.applyChanges(zone, changes, options);
      expect(view(await served.listRecords(zone))).toEqual(view(await files.listRecords(zone)));
      return outcomes;
    },
  };
  return { provider, close: () => knot.stop() };
});
