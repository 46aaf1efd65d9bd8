import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startSshd, type TestSshd } from "@cutover/testkit";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseRelayConfig, parseRsyncStats, planSyncReport, rsyncArgv, runSync, type SyncStep } from "../src/index.js";
import { tempDir } from "./_helpers.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

describe("sync config", () => {
  test("every problem of a hold and its sync at once, with its path", () => {
    expect(() =>
      parseRelayConfig({
        listeners: [],
        workers: 2,
        handover: {
          mode: "redirect",
          hold: { maxConnections: 0, maxMs: -1, onTimeout: "later" },
          startCommand: "systemctl start x",
          sync: [
            { kind: "files", paths: [{ from: "relative" }], ssh: { target: "nobody" } },
            { kind: "mysql-dump", databases: ["ok", "no;drop"], optionsFile: "/etc/x.cnf", ssh: { target: "a@b" } },
            { kind: "rsync" },
          ],
        },
      }),
    ).toThrowError(
      new RegExp(
        [
          "handover.hold: a hold is kept by one process",
          "handover.hold.maxConnections",
          "handover.hold.maxMs",
          "handover.hold.onTimeout",
          "handover.startCommand",
          "handover.sync\\[0\\].paths\\[0\\].from: expected an absolute path",
          "handover.sync\\[0\\].ssh.target: expected user@host",
          "handover.sync\\[1\\].newOptionsFile",
          "handover.sync\\[1\\].databases",
          'handover.sync\\[2\\].kind: expected "files"',
        ].join("[\\s\\S]*"),
      ),
    );
  });

  test("abort with redirect needs the old host's addresses (the relay reaches the old services over 127.0.0.1)", () => {
    const config = {
      listeners: [],
      handover: { mode: "redirect", hold: { onTimeout: "abort" }, sync: [] },
    };
    expect(() => parseRelayConfig(config)).toThrowError(
      /handover.hold.onTimeout: abort with redirect needs handover.addresses/,
    );
    expect(() =>
      parseRelayConfig({ ...config, handover: { ...config.handover, addresses: ["198.51.100.10"] } }),
    ).not.toThrow();
  });

  test("rsync: --delete only where asked, a directory's contents into the same directory, host keys checked", () => {
    const ssh = { target: "root@203.0.113.20", port: 2222, identity: "/root/.ssh/id_move", knownHosts: "/root/kh" };
    expect(rsyncArgv({ from: "/var/www" }, ssh, true)).toEqual([
      "rsync",
      "-a",
      "--numeric-ids",
      "--stats",
      "-e",
      "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10 -p 2222 -i /root/.ssh/id_move -o UserKnownHostsFile=/root/kh",
      "/var/www/",
      "root@203.0.113.20:/var/www/",
    ]);
    expect(rsyncArgv({ from: "/srv/mail", to: "/var/mail", delete: true }, ssh, true)).toContain("--delete");
    expect(rsyncArgv({ from: "/etc/aliases" }, ssh, false).slice(-2)).toEqual([
      "/etc/aliases",
      "root@203.0.113.20:/etc/aliases",
    ]);
    expect(
      parseRsyncStats("Number of regular files transferred: 1,204\nTotal transferred file size: 5,242,880 bytes\n"),
    ).toEqual({ files: 1204, bytes: 5_242_880 });
  });
});

// rsync to a real OpenSSH server on loopback, as the relay runs it at the handover (and as the warm pass does).
describe.skipIf(!isRoot)("files sync over a real sshd (needs root for the test user)", () => {
  let sshd: TestSshd;
  let t: Awaited<ReturnType<typeof tempDir>>;
  let dest: string;
  beforeAll(async () => {
    sshd = await startSshd();
    t = await tempDir();
    dest = join(sshd.home, "www");
    await mkdir(join(t.dir, "www/sub"), { recursive: true });
    await writeFile(join(t.dir, "www/a.txt"), "a");
    await writeFile(join(t.dir, "www/sub/b.txt"), "bb");
    await chmod(t.dir, 0o755);
  }, 30_000);
  afterAll(async () => {
    await sshd?.stop();
    await t?.remove();
  });

  const step = (del: boolean): SyncStep => ({
    kind: "files",
    paths: [{ from: join(t.dir, "www"), to: dest, delete: del }],
    ssh: { target: `${sshd.user}@127.0.0.1`, port: sshd.port, identity: sshd.userKey, knownHosts: sshd.knownHosts },
  });
  const run = async (steps: SyncStep[]) => {
    const report = planSyncReport(steps);
    await runSync(steps, report, { log: () => undefined, signal: new AbortController().signal, promoteAnyway: false });
    return report;
  };

  test("a warm pass copies everything, the final pass only what changed, --delete only where the plan says", async () => {
    const warm = await run([step(false)]);
    expect(warm).toMatchObject({ state: "done", files: 2, bytes: 3 });
    expect(await readFile(join(dest, "sub/b.txt"), "utf8")).toBe("bb");
    await writeFile(join(t.dir, "www/c.txt"), "ccc");
    await rm(join(t.dir, "www/a.txt"));
    const delta = await run([step(false)]);
    expect(delta).toMatchObject({ state: "done", files: 1, bytes: 3 });
    expect(existsSync(join(dest, "a.txt"))).toBe(true); // no --delete: kept
    await run([step(true)]);
    expect(existsSync(join(dest, "a.txt"))).toBe(false);
    expect(await readFile(join(dest, "c.txt"), "utf8")).toBe("ccc");
  }, 30_000);

  test("an unknown host key is refused, not accepted", async () => {
    const other = join(t.dir, "empty_known_hosts");
    await writeFile(other, "");
    const s = step(false);
    if (s.kind === "files") s.ssh.knownHosts = other;
    const report = await run([s]);
    expect(report.state).toBe("failed");
    expect(report.error).toMatch(/Host key verification failed|No .* host key is known/);
  }, 30_000);

  test("a tool missing on the host is named", async () => {
    const report = await run([{ kind: "command", argv: ["no-such-tool-cutover"] }]);
    expect(report).toMatchObject({
      state: "failed",
      error: expect.stringMatching(/no-such-tool-cutover is not installed/),
    });
    expect(execFileSync("which", ["rsync"]).toString()).toMatch(/rsync/);
  });
});
