import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { edgeStatusForSession, edgeStatusLines } from "../../src/schedule/edge.js";
import { createReporter } from "../../src/output/reporter.js";
import { openSession } from "../../src/timeline/session.js";
import { runCli } from "../_run.js";

const CF_TOKEN = "cf-test-token-0123456789";
const DEPLOY_TOKEN = "deploy-token-workers-scripts-edit-0001";

// The Workers API fake lives in the edge package's tests (a path kept out of the typechecked import graph);
// the DNS fakes are @cutover/testkit's.
const workersFake = new URL("../../../edge/test/_workers-fake.ts", import.meta.url).pathname;

interface Fakes {
  dns: {
    baseUrl: string;
    handlers: unknown[];
    addZone(n: string): void;
    addRecord(z: string, r: object): void;
    list(z: string): Array<{ content: string; ttl: number }>;
  };
  workers: {
    baseUrl: string;
    accountId: string;
    handlers: unknown[];
    scripts: Map<string, unknown>;
    staleRequests: number;
    close(): Promise<void>;
  };
  server: { close(): void };
}

let f: Fakes;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  const { CloudflareFake, startFakeServer } = (await import("@cutover/testkit/dns-fakes")) as unknown as {
    CloudflareFake: new (o: object) => Fakes["dns"];
    startFakeServer: (...h: unknown[]) => Fakes["server"];
  };
  const { WorkersApiFake } = (await import(workersFake)) as {
    WorkersApiFake: new (token: string, outbound: object) => Fakes["workers"];
  };
  const dns = new CloudflareFake({ baseUrl: "https://dns.cloudflare.test/client/v4" });
  dns.addZone("example.com");
  dns.addRecord("example.com", { name: "www", type: "A", content: "198.51.100.10", ttl: 300 });
  const workers = new WorkersApiFake(DEPLOY_TOKEN, { handlers: dns.handlers, unhandled: [], seen: [] });
  const server = startFakeServer(...dns.handlers, ...workers.handlers);
  f = { dns, workers, server };
  dir = mkdtempSync(join(tmpdir(), "cutover-edge-"));
  env = {
    CLOUDFLARE_API_TOKEN: CF_TOKEN,
    CLOUDFLARE_WORKERS_TOKEN: DEPLOY_TOKEN,
    CLOUDFLARE_ACCOUNT_ID: workers.accountId,
    CLOUDFLARE_WORKERS_API_URL: workers.baseUrl,
  };
  const swapAt = new Date(Date.now() + 4000).toISOString();
  writeFileSync(
    join(dir, "cutover.yaml"),
    `name: edge-test
old: { ipv4: 198.51.100.10 }
new: { ipv4: 203.0.113.20 }
dns:
  provider: cloudflare
  zones: [example.com]
  apiUrl: ${dns.baseUrl}
  lowTtl: 300
schedule:
  swapAt: ${swapAt}
  restoreTtlAfter: 2s
`,
  );
});

afterAll(async () => {
  await f?.workers.close();
  f?.server.close();
});

describe("cutover schedule --with edge", () => {
  it("--dry-run prints the upload without secret values; the deploy arms the Worker; status follows it; --remove deletes it", async () => {
    const dry = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--dry-run", "--json"], { cwd: dir, env });
    expect(dry.stderr).toBe("");
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as {
      script: string;
      secrets: string[];
      steps: Array<{ id: string }>;
      metadata: { bindings: Array<{ type: string; name: string; text?: string }> };
    };
    expect(plan.script).toBe("cutover-edge-test");
    expect(plan.secrets).toEqual(["CLOUDFLARE_API_TOKEN", "CONTROL_TOKEN"]);
    // DoH checks 1 min, 5 min and 10 min after the swap (the low TTL); the restore 2 s after it.
    expect(plan.steps.map((s) => s.id)).toEqual(["swap", "restore", "check-1", "check-2", "check-3"]);
    expect(plan.metadata.bindings.filter((b) => b.type === "secret_text").every((b) => b.text === "(secret)")).toBe(
      true,
    );
    expect(f.workers.scripts.size).toBe(0);
    const human = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--dry-run"], { cwd: dir, env });
    expect(human.stdout).toContain("secrets (values not shown): CLOUDFLARE_API_TOKEN, CONTROL_TOKEN");
    // The sizes that count against Cloudflare's limits, and no variable (the plan is a module).
    expect(human.stdout).toMatch(
      /^modules: worker\.js [\d.]+ KiB, plan\.js [\d.]+ KiB; upload [\d.]+ KiB, [\d.]+ KiB gzipped/m,
    );
    expect(human.stdout).toContain("bindings: 3 (limit 64); variables: none (limit 5120 B each)");
    // The dry run wrote nothing: no journal, no state directory.
    expect(existsSync(join(dir, ".cutover"))).toBe(false);

    const deployed = await runCli(["schedule", "cutover.yaml", "--with", "edge"], { cwd: dir, env });
    expect(deployed.stderr).toBe("");
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toContain(
      "deployed cutover-edge-test (https://cutover-edge-test.example-account.workers.dev) and armed 5 steps",
    );
    expect(deployed.stdout).toMatch(/^startup time \d+ ms \(Cloudflare's limit 1000 ms\); modules: /m);
    const state = join(dir, ".cutover/edge-test");
    expect(statSync(join(state, "edge.json")).mode & 0o777).toBe(0o600);
    const token = () =>
      (JSON.parse(readFileSync(join(state, "edge.json"), "utf8")) as { controlToken: string }).controlToken;
    const first = token();

    // Deploying again keeps the control token: the old version, still answering the first requests, knows it.
    f.workers.staleRequests = 2;
    const again = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--json"], { cwd: dir, env });
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ migration: "kept", controlToken: "kept" });
    expect(token()).toBe(first);
    // Without edge.json (another machine): a new token, saved before the Worker is called; the old
    // version's 401 is waited out.
    rmSync(join(state, "edge.json"));
    f.workers.staleRequests = 1;
    const fresh = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--json"], { cwd: dir, env });
    f.workers.staleRequests = 0;
    expect(fresh.stderr).toBe("");
    expect(fresh.code).toBe(0);
    expect(JSON.parse(fresh.stdout)).toMatchObject({ controlToken: "new" });
    expect(token()).not.toBe(first);

    const session = await openSession({ file: "cutover.yaml", cwd: dir, env, now: new Date() });
    try {
      let s = await edgeStatusForSession(session);
      const end = Date.now() + 30_000;
      const restored = () => s?.status?.steps.find((x) => x.id === "restore")?.status === "done";
      while (!restored() && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 250));
        s = await edgeStatusForSession(session);
      }
      expect(s?.status?.steps.map((x) => `${x.id} ${x.status}`)).toEqual([
        "swap done",
        "restore done",
        "check-1 pending",
        "check-2 pending",
        "check-3 pending",
      ]);
      expect(s?.status?.nextAlarm).toBe(s?.status?.steps[2]!.at);
    } finally {
      await session.close();
    }
    expect(f.dns.list("example.com")[0]!.content).toBe("203.0.113.20");

    // A rollback cancels the edge steps, puts the records back, then deletes the Worker.
    const rolled = await runCli(["rollback", "cutover.yaml"], { cwd: dir, env });
    expect(rolled.code).toBe(0);
    expect(rolled.stdout).toContain("edge: pending steps cancelled");
    expect(rolled.stdout).toContain("deleted the Worker cutover-edge-test");
    expect(f.dns.list("example.com")[0]!.content).toBe("198.51.100.10");
    expect(f.workers.scripts.size).toBe(0);

    const removed = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--remove", "--json"], {
      cwd: dir,
      env,
    });
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ removed: false, script: "cutover-edge-test" });

    // No token in any output or in the journal.
    const journal = readFileSync(join(state, "events.jsonl"), "utf8") + readFileSync(join(state, "state.json"), "utf8");
    expect(journal).toContain("edge.deployed");
    for (const text of [
      dry.stdout,
      human.stdout,
      deployed.stdout,
      rolled.stdout,
      rolled.stderr,
      removed.stdout,
      journal,
    ]) {
      expect(text).not.toContain(CF_TOKEN);
      expect(text).not.toContain(DEPLOY_TOKEN);
    }
  }, 180_000); // three uploads, each started in workerd by the fake: slow on a loaded machine

  it("a plan's webhook goes to the Worker as secret bindings: the URL and signing secret are in no module, output or journal", async () => {
    const hook = "https://hooks.example.test/services/T0KEN-in-path-4242";
    const secret = "hmac-secret-edge-notify-9999";
    const nd = mkdtempSync(join(tmpdir(), "cutover-edge-notify-"));
    try {
      writeFileSync(
        join(nd, "cutover.yaml"),
        `${readFileSync(join(dir, "cutover.yaml"), "utf8")
          .replace("name: edge-test", "name: edge-notify")
          .replace(/swapAt: .*/, `swapAt: ${new Date(Date.now() + 86_400_000).toISOString()}`)}notify:
  webhook: { url: "${hook}", secretEnv: HOOK_SECRET }
  command: cat >> events.jsonl
`,
      );
      const dry = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--dry-run", "--json"], {
        cwd: nd,
        env: { ...env, HOOK_SECRET: secret },
      });
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout).secrets).toEqual([
        "CLOUDFLARE_API_TOKEN",
        "CONTROL_TOKEN",
        "NOTIFY_WEBHOOK_URL",
        "NOTIFY_SECRET",
      ]);
      expect(dry.stderr).toContain("notify.command runs only on your own machines");
      // The signing secret's variable unset: refused before anything is uploaded.
      const missing = await runCli(["schedule", "cutover.yaml", "--with", "edge"], { cwd: nd, env });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain(
        "notify.webhook.secretEnv names HOOK_SECRET, which is not set: nothing was uploaded",
      );
      expect(f.workers.scripts.has("cutover-edge-notify")).toBe(false);

      const deployed = await runCli(["schedule", "cutover.yaml", "--with", "edge"], {
        cwd: nd,
        env: { ...env, HOOK_SECRET: secret },
      });
      expect(deployed.code, deployed.stderr).toBe(0);
      const uploaded = f.workers.scripts.get("cutover-edge-notify") as {
        metadata: { bindings: Array<{ type: string; name: string; text?: string }> };
        parts: Record<string, { text: string }>;
      };
      const bound = Object.fromEntries(
        uploaded.metadata.bindings.filter((b) => b.type === "secret_text").map((b) => [b.name, b.text]),
      );
      expect(bound.NOTIFY_WEBHOOK_URL).toBe(hook);
      expect(bound.NOTIFY_SECRET).toBe(secret);
      const plan = uploaded.parts["plan.js"]!.text;
      expect(plan).toContain('\\"origin\\":\\"https://hooks.example.test\\"');
      const state = join(nd, ".cutover/edge-notify");
      const shown = [
        dry.stdout,
        dry.stderr,
        deployed.stdout,
        deployed.stderr,
        plan,
        readFileSync(join(state, "events.jsonl"), "utf8"),
        readFileSync(join(state, "state.json"), "utf8"),
      ].join("\n");
      for (const s of [hook, "T0KEN-in-path-4242", secret]) expect(shown).not.toContain(s);
      const removed = await runCli(["schedule", "cutover.yaml", "--with", "edge", "--remove"], { cwd: nd, env });
      expect(removed.code).toBe(0);
    } finally {
      rmSync(nd, { recursive: true, force: true });
    }
  }, 120_000);

  it("says which token is missing", async () => {
    const r = await runCli(["schedule", "cutover.yaml", "--with", "edge"], {
      cwd: dir,
      env: { ...env, CLOUDFLARE_WORKERS_TOKEN: undefined },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no deploy token: set CLOUDFLARE_WORKERS_TOKEN");
  });

  it("status shows a step's warning on its line", () => {
    const sink = { write: () => true, isTTY: false };
    const out = createReporter({ stdout: sink, stderr: sink }, { json: false, env: { NO_COLOR: "1" } });
    const step = {
      id: "check-1",
      kind: "check",
      at: "2027-12-01T14:01:00.000Z",
      summary: "check 2 name(s) at 1 DoH resolver(s)",
      status: "done" as const,
      attempts: 1,
      startedAt: null,
      doneAt: null,
      retryAt: null,
      error: null,
      warning: "no DoH resolver answered (1 asked: 503); propagation was not seen",
      result: null,
    };
    const lines = edgeStatusLines(out, {
      name: "edge-test",
      state: "done",
      now: "2027-12-01T14:02:00.000Z",
      nextAlarm: null,
      steps: [step],
      log: [],
    });
    expect(lines[1]).toMatch(
      /check-1 +done warning: no DoH resolver answered \(1 asked: 503\); propagation was not seen$/,
    );
    // The Worker's notifications: how the last ones went, and the ones not delivered.
    const withNotify = edgeStatusLines(out, {
      name: "edge-test",
      state: "done",
      now: "2027-12-01T14:02:00.000Z",
      nextAlarm: null,
      steps: [step],
      log: [],
      notifications: {
        target: "webhook https://hooks.example.com",
        deliveries: [
          { id: "a", type: "step.started", status: "delivered", attempts: 1, httpStatus: 200, error: null },
          { id: "b", type: "step.done", status: "failed", attempts: 5, httpStatus: 503, error: "HTTP 503" },
        ],
      },
    });
    expect(withNotify.slice(2)).toEqual([
      "  notifications to webhook https://hooks.example.com: last 2: 1 delivered, 1 not delivered",
      "    not delivered: step.done after 5 attempts: HTTP 503",
    ]);
  });
});
