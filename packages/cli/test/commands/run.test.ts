import { createServer } from "node:net";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseZoneFile } from "@cutover/dns";
import { queryAdmin } from "@cutover/relay";
import { afterEach, describe, expect, test } from "vitest";
import { fastClock, makeMoveDir } from "../_move.js";
import { runCli } from "../_run.js";

const SWAP = "2027-12-01T14:00:00Z";
let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

function records(text: string, zone: string) {
  return parseZoneFile(text, { origin: zone })
    .entries.map((e) => e.record)
    .filter((r) => r.type === "A" || r.type === "AAAA" || r.type === "TXT");
}

function events(dir: string) {
  return readFileSync(join(dir, ".cutover/move-test/events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { at: string; type: string; step?: string });
}

describe("cutover run with an injected clock", () => {
  test("a 24-hour plan runs in milliseconds; each step fires at its time; state files are private", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const clock = fastClock("2027-11-29T10:00:00Z");
    const before = move.zone("example.com");
    const r = await runCli(["run"], { cwd: move.dir, now: clock.now, sleep: clock.sleep });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the timeline is finished");
    // The first start of each step (the watch polls: it starts again each round until propagated).
    const seen = new Set<string>();
    const starts = events(move.dir)
      .filter((e) => e.type === "step.start" && !seen.has(e.step!) && seen.add(e.step!))
      .map((e) => `${e.step}@${e.at}`);
    expect(starts).toEqual([
      "lower@2027-11-30T13:00:00.000Z",
      "preflight@2027-12-01T13:45:00.000Z",
      "handover@2027-12-01T14:00:00.000Z",
      "swap@2027-12-01T14:00:00.000Z",
      "watch@2027-12-01T14:00:00.000Z",
      "drain@2027-12-01T14:30:00.000Z",
      "restore@2027-12-02T14:00:00.000Z",
    ]);
    // Final DNS: every moved record on the new address with its original TTL; the rest untouched.
    const after = records(move.zone("example.com"), "example.com");
    const orig = records(before, "example.com");
    for (const o of orig) {
      const a = after.find((x) => x.id === o.id)!;
      if (o.content === "198.51.100.10") expect(a).toMatchObject({ content: "127.0.0.1", ttl: o.ttl });
      else if (o.content === "2001:db8:10::10") expect(a).toMatchObject({ content: "2001:db8::20", ttl: o.ttl });
      else if (o.type === "TXT" && o.content.startsWith("v=spf1"))
        expect(a).toMatchObject({ content: "v=spf1 mx ip4:127.0.0.1 ip6:2001:db8::20 -all", ttl: o.ttl });
      else expect(a).toEqual(o);
    }
    expect(statSync(join(move.dir, ".cutover/move-test")).mode & 0o777).toBe(0o700);
    expect(statSync(join(move.dir, ".cutover/move-test/state.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(move.dir, ".cutover/move-test/events.jsonl")).mode & 0o777).toBe(0o600);
    expect(existsSync(join(move.dir, ".cutover/move-test/lock"))).toBe(false);
    // The originals were journaled before the first change.
    const ev = events(move.dir);
    expect(ev[0]!.type).toBe("run.created");
    expect((ev[0] as unknown as { originals: unknown[] }).originals).toHaveLength(10);

    // Running again does nothing twice: no step event at all.
    const count = events(move.dir).length;
    const again = await runCli(["run"], { cwd: move.dir, now: clock.now, sleep: clock.sleep });
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/lower:|swap:|restore:/);
    expect(
      events(move.dir)
        .slice(count)
        .filter((e) => e.type.startsWith("step.")),
    ).toEqual([]);
    // status --offline gives each record as the journal left it: the same as read live (it said "unknown").
    const states = async (offline: boolean) =>
      JSON.parse(
        (await runCli(["status", "--json", ...(offline ? ["--offline"] : [])], { cwd: move.dir, now: clock.now }))
          .stdout,
      ).records.map((x: { name: string; type: string; state: string; current: unknown }) => [
        x.name,
        x.type,
        x.state,
        x.current,
      ]);
    const live = await states(false);
    expect(live.every((x: string[]) => x[2] === "restored")).toBe(true);
    expect(await states(true)).toEqual(live);
  });

  test("tick does what is due and nothing twice; status shows where the move stands", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const at = (iso: string) => ({ cwd: move.dir, now: new Date(iso), sleep: async () => {} });
    const t1 = await runCli(["tick", "--json"], at("2027-11-29T10:00:00Z"));
    expect(JSON.parse(t1.stdout)).toMatchObject({ ran: [], finished: false, nextAt: "2027-11-30T13:00:00.000Z" });
    const t2 = await runCli(["tick", "--json"], at("2027-11-30T13:00:20Z"));
    expect(JSON.parse(t2.stdout).ran).toEqual([{ kind: "lower", status: "done" }]);
    const t3 = await runCli(["tick", "--json"], at("2027-11-30T13:00:40Z"));
    expect(JSON.parse(t3.stdout).ran).toEqual([]);
    const status = await runCli(["status", "--json"], at("2027-11-30T14:00:00Z"));
    const s = JSON.parse(status.stdout);
    expect(s.steps[0]).toMatchObject({ kind: "lower", status: "done" });
    expect(s.nextAt).toBe("2027-12-01T13:45:00.000Z");
    expect(s.records.map((x: { state: string }) => x.state)).toEqual([
      "lowered",
      "lowered",
      "lowered",
      "lowered",
      "lowered",
      "lowered",
      "lowered",
      "lowered",
      "original",
      "lowered",
    ]);
    const human = await runCli(["status"], at("2027-11-30T14:00:00Z"));
    expect(human.stdout).toMatch(/✓ T-25h\s+done 2027-11-30 13:00:20Z/);
    expect(human.stdout).toMatch(/→ T-15m\s+2027-12-01 13:45:00Z in 23h45m/);
    const t4 = await runCli(["tick", "--json"], at("2027-12-01T14:00:05Z"));
    expect(JSON.parse(t4.stdout).ran.map((x: { kind: string }) => x.kind)).toEqual([
      "preflight",
      "handover",
      "swap",
      "watch",
    ]);
    const st = JSON.parse((await runCli(["status", "--json"], at("2027-12-01T14:01:00Z"))).stdout);
    expect(st.records.every((x: { state: string }) => x.state === "swapped")).toBe(true);
  });

  test("a move larger than dns.maxChanges is shown by plan and needs --force to start", async () => {
    const move = await makeMoveDir({ swapAt: SWAP, extra: "" });
    cleanup.push(move.close);
    const path = join(move.dir, "cutover.yaml");
    writeFileSync(path, readFileSync(path, "utf8").replace("  lowTtl: 300", "  lowTtl: 300\n  maxChanges: 5"));
    const now = new Date("2027-11-29T10:00:00Z");
    const plan = await runCli(["plan"], { cwd: move.dir, now });
    expect(plan.code).toBe(0);
    expect(plan.stderr).toContain(
      "warning: swap changes 10 records, more than dns.maxChanges (5): `cutover run` will need --force",
    );
    const refused = await runCli(["tick"], { cwd: move.dir, now });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("changes more records than the plan allows without --force");
    expect(existsSync(join(move.dir, ".cutover/move-test/state.json"))).toBe(false);
    const forced = await runCli(["tick", "--force"], { cwd: move.dir, now });
    expect(forced.code).toBe(0);
  });

  test("on a terminal: a live view redrawn in place, with done, next and a countdown", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const clock = fastClock("2027-11-29T10:00:00Z");
    const r = await runCli(["run"], { cwd: move.dir, now: clock.now, sleep: clock.sleep, tty: true });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("\x1b[J"); // each frame replaces the last
    expect(r.stdout).toMatch(/→ T-25h\s+2027-11-30 13:00:00Z in 1d3h/);
    expect(r.stdout).toMatch(/✓ T-25h\s+done 2027-11-30 13:00:00Z/);
    expect(r.stdout).toMatch(/✓ T\+24h\s+done 2027-12-02 14:00:00Z/);
    // Redrawn when the view changes (each second in a step's last hour, else each minute): three days of
    // timeline took ~270000 frames at one a second.
    expect(r.stdout.split("\x1b[?2026h").length).toBeLessThan(25_000);
  }, 120_000);

  test("tick --dry-run shows what is due and changes nothing", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const before = move.zone("example.com");
    const r = await runCli(["tick", "--dry-run", "--json"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
    expect(r.code).toBe(0);
    const data = JSON.parse(r.stdout);
    expect(data).toMatchObject({ dryRun: true, journal: false });
    expect(data.due.map((d: { kind: string }) => d.kind)).toEqual(["lower"]);
    expect(data.due[0].changes).toHaveLength(9);
    expect(move.zone("example.com")).toBe(before);
    expect(existsSync(join(move.dir, ".cutover"))).toBe(false);
  });

  test("a second runner is refused and told who holds the lock", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-29T10:00:00Z") });
    writeFileSync(
      join(move.dir, ".cutover/move-test/lock"),
      JSON.stringify({
        pid: process.pid,
        host: (await import("node:os")).hostname(),
        command: "run",
        since: "2027-11-29T10:00:00.000Z",
      }),
    );
    const r = await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
    expect(r.code).toBe(75);
    expect(r.stderr).toContain(`another cutover runner holds this plan: pid ${process.pid}`);
    // A lock left by a process that is gone is taken over.
    writeFileSync(
      join(move.dir, ".cutover/move-test/lock"),
      JSON.stringify({ pid: 2 ** 22 + 7, host: (await import("node:os")).hostname(), command: "run", since: "x" }),
    );
    const r2 = await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
    expect(r2.code).toBe(0);
  });

  test("an edited plan is refused with the difference until re-planned", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-29T10:00:00Z") });
    const path = join(move.dir, "cutover.yaml");
    writeFileSync(path, readFileSync(path, "utf8").replace("restoreTtlAfter: 24h", "restoreTtlAfter: 48h"));
    const r = await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("has changed since this run started");
    expect(r.stderr).toContain("-  restoreTtlAfter: 24h");
    expect(r.stderr).toContain("+  restoreTtlAfter: 48h");
    const acc = await runCli(["plan", "--accept-changes"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") });
    expect(acc.code).toBe(0);
    const st = JSON.parse(
      (await runCli(["status", "--json", "--offline"], { cwd: move.dir, now: new Date("2027-11-30T13:00:00Z") }))
        .stdout,
    );
    expect(st.steps.find((s: { kind: string }) => s.kind === "restore").at).toBe("2027-12-03T14:00:00.000Z");
  });

  test("a failing preflight stops the run before the swap; after the fix, running again finishes", async () => {
    // A port where nothing listens yet: the new host is not ready.
    const probe = createServer();
    const port = await new Promise<number>((r) =>
      probe.listen(0, "127.0.0.1", () => r((probe.address() as { port: number }).port)),
    );
    await new Promise((r) => probe.close(r));
    const move = await makeMoveDir({ swapAt: SWAP, ports: [port] });
    cleanup.push(move.close);
    const clock = fastClock("2027-11-29T10:00:00Z");
    const r = await runCli(["run"], { cwd: move.dir, now: clock.now, sleep: clock.sleep });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`preflight failed: tcp ${port}: 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const st = JSON.parse((await runCli(["status", "--json"], { cwd: move.dir, now: clock.now })).stdout);
    expect(st.failed[0].step).toBe("preflight");
    expect(st.records.every((x: { state: string }) => x.state === "lowered" || x.state === "original")).toBe(true);
    const t = await runCli(["tick"], { cwd: move.dir, now: clock.now });
    expect(t.code).toBe(1);
    expect(t.stderr).toContain("preflight failed");
    expect(t.stderr).toContain("cutover tick --retry");
    // The new host comes up; running again retries the failed step and finishes the move.
    const up = createServer((c) => c.end());
    await new Promise<void>((res) => up.listen(port, "127.0.0.1", () => res()));
    cleanup.push(() => new Promise((res) => up.close(res)));
    const again = await runCli(["run"], { cwd: move.dir, now: clock.now, sleep: clock.sleep });
    expect(again.stderr).toBe("");
    expect(again.stdout).toContain("preflight: failed before; trying again");
    expect(again.code).toBe(0);
  });
});

describe("cutover rollback", () => {
  for (const stage of [
    "2027-11-29T10:00:00Z",
    "2027-11-30T13:00:10Z",
    "2027-12-01T14:00:10Z",
    "2027-12-01T14:20:00Z",
  ]) {
    test(`from ${stage}: the original records come back exactly (contents and TTLs)`, async () => {
      const move = await makeMoveDir({ swapAt: SWAP });
      cleanup.push(move.close);
      const original = { com: move.zone("example.com"), org: move.zone("example.org") };
      await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-29T10:00:00Z") });
      if (stage !== "2027-11-29T10:00:00Z")
        await runCli(["tick"], { cwd: move.dir, now: new Date("2027-11-30T13:00:10Z") });
      if (stage >= "2027-12-01") await runCli(["tick"], { cwd: move.dir, now: new Date(stage) });
      const dry = await runCli(["rollback", "--dry-run"], { cwd: move.dir, now: new Date(stage) });
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain("would put back 10 records");
      // Each change starts from the record as it is now (after a restore: its TTL is back; before the swap:
      // still on the old address), not from the timeline's planned "before".
      const dryJson = await runCli(["rollback", "--dry-run", "--json"], { cwd: move.dir, now: new Date(stage) });
      const now = [
        ...records(move.zone("example.com"), "example.com"),
        ...records(move.zone("example.org"), "example.org"),
      ];
      const changes = JSON.parse(dryJson.stdout).changes as Array<{
        name: string;
        type: string;
        before: { content: string; ttl: number };
      }>;
      expect(changes).toHaveLength(10);
      for (const c of changes)
        expect(
          now.some(
            (r) => r.name === c.name && r.type === c.type && r.content === c.before.content && r.ttl === c.before.ttl,
          ),
          `${c.name} ${c.type} ${c.before.content} ttl ${c.before.ttl}`,
        ).toBe(true);
      const r = await runCli(["rollback"], { cwd: move.dir, now: new Date(stage) });
      expect(r.stderr.replace(/warning: clients reached.*\n/, "")).toBe("");
      expect(r.code).toBe(0);
      for (const [zone, text] of [
        ["example.com", original.com],
        ["example.org", original.org],
      ] as const) {
        expect(records(move.zone(zone), zone)).toEqual(records(text, zone));
      }
      if (stage >= "2027-12-01") {
        expect(r.stderr).toMatch(/data written there since .* is not brought back/);
        // The relay that took the old address at the handover is gone.
        expect(r.stdout).toContain("stopped the relay");
        // Said "stopped" only once its process is gone.
        await expect(
          queryAdmin(join(move.dir, ".cutover/move-test/relay.sock"), { cmd: "status" }, 1000),
        ).rejects.toThrow();
      }
      // After a rollback, ticks do nothing.
      const t = await runCli(["tick", "--json"], { cwd: move.dir, now: new Date("2027-12-05T00:00:00Z") });
      expect(JSON.parse(t.stdout)).toMatchObject({ ran: [], rolledBack: true });
      // status tells the same story, live and from the journal alone: the originals are back, nothing is
      // next, and neither the watch's nor the relay's last word before the rollback is shown as now.
      for (const offline of [false, true]) {
        const argv = ["status", ...(offline ? ["--offline"] : [])];
        const st = await runCli([...argv, "--json"], { cwd: move.dir, now: new Date(stage) });
        const j = JSON.parse(st.stdout);
        expect({ offline, nextAt: j.nextAt, rolledBack: j.rolledBack !== null }).toEqual({
          offline,
          nextAt: null,
          rolledBack: true,
        });
        expect(j.records.map((x: { state: string }) => `${offline}:${x.state}`)).toEqual(
          j.records.map(() => `${offline}:original`),
        );
        const text = (await runCli(argv, { cwd: move.dir, now: new Date(stage) })).stdout;
        expect(text).toContain("the move was rolled back: nothing more runs");
        expect(text).not.toMatch(/^next:|Relay {2}running|unknown|not found/m);
        if (stage >= "2027-12-01") expect(text).toContain("Relay  stopped by the rollback");
      }
    });
  }

  test("refused after the relay has drained unless --force", async () => {
    const move = await makeMoveDir({ swapAt: SWAP });
    cleanup.push(move.close);
    const clock = fastClock("2027-11-29T10:00:00Z");
    await runCli(["run"], { cwd: move.dir, now: clock.now, sleep: clock.sleep });
    const r = await runCli(["rollback"], { cwd: move.dir, now: clock.now });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("the relay has drained");
    const f = await runCli(["rollback", "--force"], { cwd: move.dir, now: clock.now });
    expect(f.code).toBe(0);
  });
});
