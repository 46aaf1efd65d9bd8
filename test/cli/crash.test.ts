import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { parseZoneFile } from "@cutover/dns";
import { queryAdmin } from "@cutover/relay";
import { afterAll, expect, test } from "vitest";
import { CLI } from "../_spawn.js";

// A real-time timeline in seconds: TTLs of 3 s lowered to 1 s, swap 20 s after the start (10 runners start at once on 2 cores), restore 2 s later.
const ZONE_COM = `$ORIGIN example.com.
$TTL 3
@ IN SOA ns1 hostmaster 2026010100 60 60 600 1
  IN NS ns1
ns1 IN A 192.0.2.53
www IN A 198.51.100.10 ; the web
mail IN A 198.51.100.10
`;
const ZONE_ORG = `$ORIGIN example.org.
@ 3 IN SOA ns1.example.com. hostmaster.example.com. 7 60 60 600 1
@ 3 NS ns1.example.com.
@ 3 A 198.51.100.10
`;

// Each run has its own "new host" (127.0.0.1:PORT) and its relay takes 127.0.0.2:PORT at the handover.
const servers: Server[] = [];
const made: string[] = [];
afterAll(async () => {
  for (const d of made)
    await queryAdmin(join(d, ".cutover/crash/relay.sock"), { cmd: "stop" }, 2000).catch(() => undefined);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function newHost(): Promise<number> {
  const s = createServer((c) => {
    c.on("error", () => {});
    c.end("220 ok\r\n");
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  servers.push(s);
  return (s.address() as { port: number }).port;
}

async function makeDir(swapAt: Date): Promise<string> {
  const port = await newHost();
  const dir = mkdtempSync(join(tmpdir(), "cutover-crash-"));
  made.push(dir);
  writeFileSync(join(dir, "com.zone"), ZONE_COM);
  writeFileSync(join(dir, "org.zone"), ZONE_ORG);
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: crash
old: { ipv4: 198.51.100.10 }
new: { ipv4: 127.0.0.1 }
dns:
  provider: zonefile
  zones: [example.com, example.org]
  files: { example.com: com.zone, example.org: org.zone }
  reload: echo {zone} >> reloads.log
  lowTtl: 1
schedule:
  swapAt: ${swapAt.toISOString()}
  margin: 1s
  restoreTtlAfter: 2s
  drain: { quiet: 1s, deadline: 1m }
relay:
  ports: [${port}]
  listen: 127.0.0.2
handover: { mode: rebind }
propagation:
  resolvers: [127.0.0.1:1]
  authoritative: false
  timeout: 1s
`,
  );
  return dir;
}

function run(dir: string, failpoint?: string): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "run"], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", ...(failpoint ? { CUTOVER_FAILPOINT: failpoint } : {}) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

function final(dir: string) {
  const recs = (file: string, zone: string) =>
    parseZoneFile(readFileSync(join(dir, file), "utf8"), { origin: zone }).entries.map((e) => e.record);
  const state = JSON.parse(readFileSync(join(dir, ".cutover/crash/state.json"), "utf8")) as {
    steps: Record<string, { status: string }>;
  };
  return {
    records: [...recs("com.zone", "example.com"), ...recs("org.zone", "example.org")],
    reloads: readFileSync(join(dir, "reloads.log"), "utf8").trim().split("\n").sort(),
    steps: Object.fromEntries(Object.entries(state.steps).map(([k, v]) => [k, v.status])),
  };
}

const POINTS = [
  "step.done:lower",
  "step.done:preflight",
  "step.done:handover",
  "step.start:swap",
  "zone-applied:swap",
  "step.done:swap",
  "step.done:watch",
  "step.done:drain",
  "zone-applied:restore",
];

test("killed (SIGKILL) at every step boundary and in the middle of the swap, a resumed run ends as an uninterrupted one", async () => {
  const swapAt = new Date(Date.now() + 20_000);
  const reference = await makeDir(swapAt);
  const dirs = await Promise.all(POINTS.map(() => makeDir(swapAt)));
  const [ref, ...crashed] = await Promise.all([run(reference), ...POINTS.map((p, i) => run(dirs[i]!, p))]);
  expect(ref.stderr).toBe("");
  expect(ref.code).toBe(0);
  for (const c of crashed) expect(c.signal).toBe("SIGKILL");
  const resumed = await Promise.all(dirs.map((d) => run(d)));
  const want = final(reference);
  expect(want.reloads).toEqual([
    "example.com",
    "example.com",
    "example.com",
    "example.org",
    "example.org",
    "example.org",
  ]);
  expect(Object.values(want.steps).every((s) => s === "done")).toBe(true);
  for (const [i, r] of resumed.entries()) {
    // A kill between the journal's append and the snapshot's write is repaired from the journal, and said.
    const said = r.stderr.replace(/^warning: \S+state\.json was behind the journal [^\n]*\n/, "");
    expect({ point: POINTS[i], code: r.code, stderr: said }).toEqual({ point: POINTS[i], code: 0, stderr: "" });
    const got = final(dirs[i]!);
    // Same records (contents, TTLs, SOA serial: as many writes), each change written once.
    expect({ point: POINTS[i], ...got }).toEqual({ point: POINTS[i], ...want });
  }
}, 120_000);
