import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { applyChangeSet, createRfc2136Provider, parseServer } from "../../src/index.js";
import { CONTRACT_MOVE, CONTRACT_SEED, CONTRACT_ZONE, testProvider } from "./_contract.js";
import { exchangeTcp } from "../../src/providers/_dns-tcp.js";
import { buildUpdate, rcodeOf } from "../../src/providers/_dns-wire.js";
import { parseKeyFile } from "../../src/providers/_tsig.js";
import { startKnot, zoneText, type KnotServer } from "@cutover/testkit";
import { discoverTargets, planSwap } from "@cutover/core";

function providerOn(knot: KnotServer, options: Record<string, unknown> = {}) {
  return createRfc2136Provider({
    provider: "rfc2136",
    zones: [CONTRACT_ZONE],
    options: { server: `127.0.0.1:${knot.port}`, keyFile: knot.keyFile, ...options },
    baseDir: "/",
    env: {},
  });
}

testProvider("rfc2136 (real Knot, TSIG, AXFR)", async () => {
  const knot = await startKnot({ [CONTRACT_ZONE]: zoneText(CONTRACT_ZONE, CONTRACT_SEED) });
  return { provider: providerOn(knot), close: () => knot.stop() };
});

testProvider("rfc2136 (real Knot, transfers refused: direct queries)", async () => {
  const knot = await startKnot({ [CONTRACT_ZONE]: zoneText(CONTRACT_ZONE, CONTRACT_SEED) }, ["update"]);
  const provider = providerOn(knot, {
    names: ["www.example.com", "mail.example.com", "other.example.com", "ftp.example.com", "pool.example.com"],
  });
  return { provider, close: () => knot.stop() };
});

describe("rfc2136 provider", () => {
  let knot: KnotServer;
  beforeAll(async () => {
    knot = await startKnot({ [CONTRACT_ZONE]: zoneText(CONTRACT_ZONE, CONTRACT_SEED) });
  });
  afterAll(() => knot?.stop());

  it("does not write a change whose record changed after it was read; the rest goes in one UPDATE", async () => {
    const p = providerOn(knot);
    const records = await p.listRecords(CONTRACT_ZONE);
    const targets = discoverTargets(records, CONTRACT_MOVE).targets;
    const set = planSwap(targets, CONTRACT_MOVE, 300, p.capabilities);
    // Someone adds a second A to www between our read and our write: the prerequisite no longer holds.
    const www = set.changes.find((c) => c.name === "www.example.com" && c.type === "A")!;
    const stale = set.changes.map((c) => ({ ...c, current: c.record }));
    await p.applyChanges(CONTRACT_ZONE, [
      {
        ...www,
        before: www.before,
        after: { content: "192.0.2.55", ttl: 300 },
        current: www.record,
        record: www.record,
      },
    ]);
    const before = await p.listRecords(CONTRACT_ZONE);
    const outcomes = await p.applyChanges(
      CONTRACT_ZONE,
      stale
        .filter((c) => c.name !== "www.example.com" || c.type !== "A")
        .concat(stale.filter((c) => c.name === "www.example.com" && c.type === "A")),
    );
    expect(outcomes.find((o) => o.change.name === "www.example.com" && o.change.type === "A")).toMatchObject({
      status: "failed",
    });
    // The other changes went in one UPDATE and did apply; www's stale change wrote nothing.
    const after = await p.listRecords(CONTRACT_ZONE);
    expect(after.filter((r) => r.name === "www.example.com" && r.type === "A").map((r) => r.content)).toEqual([
      "192.0.2.55",
    ]);
    expect(before).not.toEqual(after);
  });

  it("is a compare-and-swap on the server: an UPDATE whose RRset changed since it was read is refused whole", async () => {
    const { readFile } = await import("node:fs/promises");
    const fresh = await startKnot({ [CONTRACT_ZONE]: zoneText(CONTRACT_ZONE, CONTRACT_SEED) });
    onTestFinished(() => fresh.stop());
    const p = providerOn(fresh);
    const read = await p.listRecords(CONTRACT_ZONE);
    const set = planSwap(discoverTargets(read, CONTRACT_MOVE).targets, CONTRACT_MOVE, 300, p.capabilities);
    const changes = set.changes.map((c) => ({ ...c, current: c.record }));
    // Someone changes mail's address after our read.
    expect(changes).toHaveLength(5);
    const mail = changes.find((c) => c.name === "mail.example.com")!;
    await p.applyChanges(CONTRACT_ZONE, [{ ...mail, after: { content: "192.0.2.77", ttl: 300 } }]);
    const before = await p.listRecords(CONTRACT_ZONE);
    // The UPDATE built from our (now stale) read goes straight to the server.
    const key = parseKeyFile(await readFile(fresh.keyFile, "utf8"));
    const [answer] = await exchangeTcp({
      server: { host: "127.0.0.1", port: fresh.port },
      key,
      message: buildUpdate(CONTRACT_ZONE, read, changes),
      what: "test",
      timeoutMs: 5000,
    });
    expect(rcodeOf(answer!)).toBe("NXRRSET");
    expect(await p.listRecords(CONTRACT_ZONE)).toEqual(before);
  });

  it("reads a key file whose secret contains // (not a comment inside quotes), and skips real comments", () => {
    const secret = "ab//cd+ef//gh/ijk=";
    const key = parseKeyFile(
      `# a comment\n// another\nkey "k1" { /* inline */ algorithm hmac-sha256; # trailing\n  secret "${secret}"; // done\n};\n`,
    );
    expect(key).toMatchObject({ name: "k1", algorithm: "hmac-sha256" });
    expect(key.secret.equals(Buffer.from(secret, "base64"))).toBe(true);
  });

  it("reads Knot's key formats: keymgr's YAML and the hmac-sha256:name:secret line, as well as BIND's", async () => {
    const { execFileSync } = await import("node:child_process");
    // The real tool's output: a comment with the one-line form, then the YAML.
    const yaml = execFileSync("keymgr", ["-t", "knot-made", "hmac-sha256"], { encoding: "utf8" });
    const line = /^# (hmac-sha256:knot-made:\S+)$/m.exec(yaml)![1]!;
    const secret = line.split(":")[2]!;
    const fromYaml = parseKeyFile(yaml);
    expect(fromYaml).toMatchObject({ name: "knot-made", algorithm: "hmac-sha256" });
    expect(fromYaml.secret.equals(Buffer.from(secret, "base64"))).toBe(true);
    for (const text of [
      `${line}\n`,
      `knot-made:${secret}`,
      `key "knot-made" { algorithm hmac-sha256; secret "${secret}"; };`,
    ])
      expect(parseKeyFile(text)).toEqual(fromYaml);
    // A secret with "//" in the one-line form is not cut as a comment.
    expect(
      parseKeyFile("hmac-sha256:k:ab//cd+ef//gh/ijk=").secret.equals(Buffer.from("ab//cd+ef//gh/ijk=", "base64")),
    ).toBe(true);
    expect(() => parseKeyFile("hmac-md5:k:YWJj")).toThrow('key "k" uses hmac-md5; only hmac-sha256 is supported');
    expect(() => parseKeyFile("key:\n  - id: k\n    algorithm: hmac-sha512\n    secret: YWJj\n")).toThrow(
      "only hmac-sha256",
    );
    expect(() => parseKeyFile("nothing here")).toThrow(
      /no key found; expected BIND's .* Knot's YAML .* hmac-sha256:name:secret/,
    );
  });

  it("fails clearly with a wrong key", async () => {
    const { writeFile } = await import("node:fs/promises");
    const bad = `${knot.dir}/bad.key`;
    await writeFile(
      bad,
      `key "${knot.keyName}" { algorithm hmac-sha256; secret "${Buffer.alloc(32, 7).toString("base64")}"; };`,
    );
    const p = providerOn(knot, { keyFile: bad });
    await expect(p.listRecords(CONTRACT_ZONE)).rejects.toThrow(/\[rfc2136\]/);
    const missing = providerOn(knot, { keyFile: `${knot.dir}/nope.key` });
    await expect(missing.listRecords(CONTRACT_ZONE)).rejects.toThrow(/cannot read the TSIG key file/);
  });

  it("reads host, host:port and [v6]:port, and refuses keys that are not hmac-sha256", async () => {
    expect(parseServer("ns1.example.com")).toEqual({ host: "ns1.example.com", port: 53 });
    expect(parseServer("127.0.0.1:5300")).toEqual({ host: "127.0.0.1", port: 5300 });
    expect(parseServer("[::1]:5300")).toEqual({ host: "::1", port: 5300 });
    const { writeFile } = await import("node:fs/promises");
    const md5 = `${knot.dir}/md5.key`;
    await writeFile(md5, 'key "old" { algorithm hmac-md5; secret "c2VjcmV0"; };');
    await expect(providerOn(knot, { keyFile: md5 }).listRecords(CONTRACT_ZONE)).rejects.toThrow(
      /key "old" uses hmac-md5; only hmac-sha256 is supported/,
    );
  });

  it("swaps with one signed UPDATE that Knot verifies and applies", async () => {
    const p = providerOn(knot);
    const targets = discoverTargets(await p.listRecords(CONTRACT_ZONE), CONTRACT_MOVE).targets;
    const report = await applyChangeSet(p, planSwap(targets, CONTRACT_MOVE, 300, p.capabilities));
    expect(
      report.outcomes.every((o) => o.status === "applied" || o.status === "already" || o.status === "conflict"),
    ).toBe(true);
  });
});
