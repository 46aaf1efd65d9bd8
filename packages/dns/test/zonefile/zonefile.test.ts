import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { applyChangeSet, createZonefileProvider } from "../../src/index.js";
import { editZoneFile, nextSerial, quoteTxt } from "../../src/zonefile/edit.js";
import { parseZoneFile, ZoneFileError } from "../../src/zonefile/parse.js";
import { planLower, planSwap, discoverTargets } from "@cutover/core";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const TODAY = new Date("2026-11-29T10:00:00Z");
const KZONECHECK = "/usr/bin/kzonecheck";

/** Knot's own zone parser checks what we write (installed by .ci/run). */
function kzonecheck(text: string, origin: string): void {
  const dir = mkdtempSync(join(tmpdir(), "cutover-zone-"));
  const path = join(dir, `${origin}.zone`);
  writeFileSync(path, text);
  execFileSync(KZONECHECK, ["-o", origin, path], { stdio: "pipe" });
}

describe("parseZoneFile", () => {
  test("a realistic zone: $ORIGIN, $TTL, @, blank owners, multi-line SOA, comments, IPv6, TXT with quotes", () => {
    const z = parseZoneFile(fixture("example.com.zone"), { origin: "example.com" });
    expect(z.serial?.value).toBe(2026112401);
    const get = (name: string, type: string) =>
      z.entries.filter((e) => e.record.name === name && e.record.type === type).map((e) => e.record);
    expect(get("example.com", "SOA")[0]?.content).toBe(
      "ns1.example.com hostmaster.example.com 2026112401 7200 3600 1209600 3600",
    );
    expect(get("example.com", "NS").map((r) => r.content)).toEqual(["ns1.example.com", "ns2.example.net"]);
    expect(get("example.com", "MX")[0]).toMatchObject({ content: "10 mail.example.com", ttl: 86400 });
    expect(get("example.com", "AAAA")[0]?.content).toBe("2001:db8:10::10");
    expect(get("example.com", "TXT")[0]?.content).toBe("v=spf1 mx ip4:198.51.100.10 ip6:2001:db8:10::10 -all");
    expect(get("db.example.com", "A")[0]).toMatchObject({ content: "198.51.100.10", ttl: 3600 });
    expect(get("smtp.example.com", "CNAME")[0]?.content).toBe("mail.example.com");
    expect(get("imap.example.com", "CNAME")[0]?.content).toBe("mail.example.com");
    expect(get("_dmarc.example.com", "TXT")[0]?.content).toBe("v=DMARC1; p=quarantine; rua=mailto:dmarc@example.com");
  });

  test("an old-style zone: inherited TTLs, units, escaped quotes, a second $ORIGIN", () => {
    const z = parseZoneFile(fixture("example.net.zone"), { origin: "example.net" });
    const recs = z.entries.map((e) => e.record);
    expect(recs.find((r) => r.type === "SOA")?.content).toBe("ns.example.net root.example.net 7 1H 15M 1W 5M");
    expect(recs.filter((r) => r.name === "www.example.net").map((r) => [r.content, r.ttl])).toEqual([
      ["198.51.100.10", 7200],
      ["198.51.100.11", 7200],
    ]);
    expect(recs.find((r) => r.name === "ftp.example.net")?.ttl).toBe(7200);
    expect(recs.find((r) => r.name === "txt.example.net")?.content).toBe('first part second "quoted" part');
    expect(recs.find((r) => r.name === "deep.sub.example.net")?.content).toBe("198.51.100.10");
    expect(recs.find((r) => r.type === "MX")).toMatchObject({ name: "sub.example.net", content: "5 mx.example.org" });
    // Ids are stable and unique per name and type.
    expect(new Set(recs.map((r) => r.id)).size).toBe(recs.length);
    expect(recs.filter((r) => r.name === "www.example.net").map((r) => r.id)).toEqual([
      "www.example.net/A",
      "www.example.net/A#2",
    ]);
  });

  test("broken files say where", () => {
    expect(() => parseZoneFile("@ IN SOA a b (1 2 3 4 5\n", { origin: "x.test", file: "x.zone" })).toThrow(
      ZoneFileError,
    );
    expect(() => parseZoneFile("www IN A 1.2.3.4\n$INCLUDE other\n", { origin: "x.test", file: "x.zone" })).toThrow(
      /x\.zone:2: \$INCLUDE/,
    );
  });
});

describe("editZoneFile", () => {
  test("changes only the tokens concerned; comments, layout and other records stay byte for byte", () => {
    const text = fixture("example.com.zone");
    const z = parseZoneFile(text, { origin: "example.com" });
    const www = z.entries.find((e) => e.record.name === "www.example.com" && e.record.type === "A")!;
    const db = z.entries.find((e) => e.record.name === "db.example.com")!;
    const out = editZoneFile(
      z,
      [
        { id: www.record.id, after: { content: "203.0.113.20", ttl: 300 } },
        { id: db.record.id, after: { content: "198.51.100.10", ttl: 300 } },
      ],
      { today: TODAY },
    );
    const before = text.split("\n");
    const after = out.split("\n");
    expect(after).toHaveLength(before.length);
    const changed = before.map((l, i) => [l, after[i]]).filter(([a, b]) => a !== b);
    expect(changed).toEqual([
      ["                2026112401 ; serial (YYYYMMDDnn)", "                2026112900 ; serial (YYYYMMDDnn)"],
      ["www     IN  A    198.51.100.10", "www 300     IN  A    203.0.113.20"],
      [
        "db      3600 IN A 198.51.100.10      ; MySQL, used by the office app",
        "db      300 IN A 198.51.100.10      ; MySQL, used by the office app",
      ],
    ]);
    const re = parseZoneFile(out, { origin: "example.com" });
    expect(re.entries.find((e) => e.record.name === "www.example.com" && e.record.type === "A")?.record).toMatchObject({
      content: "203.0.113.20",
      ttl: 300,
    });
    expect(
      re.entries
        .filter(
          (e) => e.record.name !== "www.example.com" && e.record.name !== "db.example.com" && e.record.type !== "SOA",
        )
        .map((e) => e.record),
    ).toEqual(
      z.entries
        .filter(
          (e) => e.record.name !== "www.example.com" && e.record.name !== "db.example.com" && e.record.type !== "SOA",
        )
        .map((e) => e.record),
    );
    kzonecheck(out, "example.com");
  });

  test("an inserted TTL does not change what the next record inherits (RFC 1035 last-TTL rule)", () => {
    const z = parseZoneFile(fixture("example.net.zone"), { origin: "example.net" });
    // ftp inherits 7200 from the line above it; give "www #2" its own TTL and ftp must keep 7200.
    const www2 = z.entries.find((e) => e.record.id === "www.example.net/A#2")!;
    const out = editZoneFile(z, [{ id: www2.record.id, after: { content: "203.0.113.20", ttl: 60 } }], {
      today: TODAY,
    });
    const re = parseZoneFile(out, { origin: "example.net" }).entries.map((e) => e.record);
    expect(re.find((r) => r.id === "www.example.net/A#2")).toMatchObject({ content: "203.0.113.20", ttl: 60 });
    expect(re.find((r) => r.name === "ftp.example.net")?.ttl).toBe(7200);
    expect(re.find((r) => r.name === "txt.example.net")?.ttl).toBe(7200);
    expect(re.find((r) => r.type === "SOA")?.content).toContain(" 8 1H");
    kzonecheck(out, "example.net");
  });

  test("TXT values are quoted and split at 255 bytes; IPv6 replaced", () => {
    const z = parseZoneFile(fixture("example.com.zone"), { origin: "example.com" });
    const spf = z.entries.find((e) => e.record.type === "TXT")!;
    const long = `v=spf1 ${"ip4:203.0.113.20 ".repeat(20)}-all`;
    const out = editZoneFile(z, [{ id: spf.record.id, after: { content: long, ttl: spf.record.ttl } }], {
      today: TODAY,
    });
    const re = parseZoneFile(out, { origin: "example.com" });
    expect(re.entries.find((e) => e.record.type === "TXT")?.record.content).toBe(long);
    expect(quoteTxt('a"b')).toBe('"a\\"b"');
    kzonecheck(out, "example.com");
  });

  test("SOA serials: date-based when they look like a date, else +1", () => {
    expect(nextSerial(2026112401, TODAY)).toBe(2026112900);
    expect(nextSerial(2026112905, TODAY)).toBe(2026112906);
    expect(nextSerial(41, TODAY)).toBe(42);
    expect(nextSerial(2 ** 32 - 1, TODAY)).toBe(1);
  });
});

describe("the zonefile provider", () => {
  test("lower then swap through applyChangeSet: written atomically, mode kept, reload run, rerun does nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutover-zp-"));
    const path = join(dir, "example.com.zone");
    writeFileSync(path, fixture("example.com.zone"));
    chmodSync(path, 0o640);
    const provider = createZonefileProvider({
      provider: "zonefile",
      zones: ["example.com"],
      options: { files: { "example.com": "example.com.zone" }, reload: `echo {zone} >> ${join(dir, "reloads")}` },
      baseDir: dir,
      env: {},
    });
    const records = await provider.listRecords("example.com");
    const addresses = {
      old: { ipv4: "198.51.100.10", ipv6: "2001:db8:10::10" },
      new: { ipv4: "203.0.113.20", ipv6: "2001:db8::20" },
    };
    const { targets } = discoverTargets(records, addresses);
    expect(targets.map((t) => `${t.name} ${t.type}`)).toEqual([
      "example.com A",
      "example.com AAAA",
      "www.example.com A",
      "www.example.com AAAA",
      "mail.example.com A",
      "db.example.com A",
    ]);
    const lower = await applyChangeSet(provider, planLower(targets, 300, provider.capabilities));
    expect(lower.complete).toBe(true);
    expect(lower.outcomes.map((o) => o.status)).toEqual(Array(6).fill("applied"));
    const swap = await applyChangeSet(provider, planSwap(targets, addresses, 300, provider.capabilities));
    expect(swap.complete).toBe(true);
    const again = await applyChangeSet(provider, planSwap(targets, addresses, 300, provider.capabilities));
    expect(again.outcomes.map((o) => o.status)).toEqual(Array(6).fill("already"));
    expect(readFileSync(join(dir, "reloads"), "utf8")).toBe("example.com\nexample.com\n");
    expect(statSync(path).mode & 0o777).toBe(0o640);
    const after = await provider.listRecords("example.com");
    expect(after.filter((r) => r.content === "203.0.113.20").map((r) => [r.name, r.ttl])).toEqual([
      ["example.com", 300],
      ["www.example.com", 300],
      ["mail.example.com", 300],
      ["db.example.com", 300],
    ]);
    kzonecheck(readFileSync(path, "utf8"), "example.com");
  });

  test("a failing reload command is reported per record with the command to run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutover-zp-"));
    writeFileSync(join(dir, "z.zone"), fixture("example.com.zone"));
    const provider = createZonefileProvider({
      provider: "zonefile",
      zones: ["example.com"],
      options: { files: { "example.com": "z.zone" }, reload: "echo 'no such zone' >&2; exit 3" },
      baseDir: dir,
      env: {},
    });
    const { targets } = discoverTargets(await provider.listRecords("example.com"), {
      old: { ipv4: "198.51.100.10" },
      new: { ipv4: "203.0.113.20" },
    });
    const report = await applyChangeSet(provider, planLower(targets, 300, provider.capabilities));
    expect(report.complete).toBe(false);
    expect(report.outcomes[0]).toMatchObject({ status: "failed" });
    expect((report.outcomes[0] as { error: string }).error).toMatch(/reload command failed \(no such zone\)/);
  });

  test("a failed reload stays pending: the rerun that finds every record in place runs it, then it is done", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cutover-zp-"));
    writeFileSync(join(dir, "z.zone"), fixture("example.com.zone"));
    // The reload fails while the file `broken` exists, and logs each success.
    const reload = `if [ -e ${join(dir, "broken")} ]; then echo 'server down' >&2; exit 1; fi; echo {zone} >> ${join(dir, "reloads")}`;
    writeFileSync(join(dir, "broken"), "");
    const provider = createZonefileProvider({
      provider: "zonefile",
      zones: ["example.com"],
      options: { files: { "example.com": "z.zone" }, reload },
      baseDir: dir,
      env: {},
    });
    const { targets } = discoverTargets(await provider.listRecords("example.com"), {
      old: { ipv4: "198.51.100.10" },
      new: { ipv4: "203.0.113.20" },
    });
    const set = planLower(targets, 300, provider.capabilities);
    const first = await applyChangeSet(provider, set);
    expect(first.complete).toBe(false);
    expect((first.outcomes[0] as { error: string }).error).toMatch(
      /reload command failed \(server down\); the reload stays pending/,
    );
    expect(existsSync(join(dir, ".z.zone.reload-pending"))).toBe(true);
    // Still broken: the rerun sees the records in the file but does not call them done.
    const second = await applyChangeSet(provider, set);
    expect(second.complete).toBe(false);
    expect(second.outcomes.every((o) => o.status === "failed" && o.changed === true)).toBe(true);
    rmSync(join(dir, "broken"));
    const third = await applyChangeSet(provider, set);
    expect(third.complete).toBe(true);
    expect(third.outcomes.every((o) => o.status === "already")).toBe(true);
    expect(third.notes).toEqual(["example.com: reloaded (a reload left pending by an earlier attempt)"]);
    expect(readFileSync(join(dir, "reloads"), "utf8")).toBe("example.com\n");
    expect(existsSync(join(dir, ".z.zone.reload-pending"))).toBe(false);
    // Nothing pending any more: a fourth run reloads nothing.
    await applyChangeSet(provider, set);
    expect(readFileSync(join(dir, "reloads"), "utf8")).toBe("example.com\n");
  });
});
