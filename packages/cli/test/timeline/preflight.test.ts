import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer as createNetServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer } from "node:tls";
import { afterAll, beforeAll, expect, test } from "vitest";
import { runPreflightChecks } from "../../src/timeline/preflight.js";

const servers: Server[] = [];
let tlsPort = 0;
let smtpPort = 0;
let badSmtpPort = 0;

const listen = (s: Server) =>
  new Promise<number>((resolve) => {
    servers.push(s);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as { port: number }).port));
  });

beforeAll(async () => {
  // A real certificate for www.example.com and mail.example.com, made by openssl.
  const dir = mkdtempSync(join(tmpdir(), "cutover-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "30",
      "-subj",
      "/CN=www.example.com",
      "-addext",
      "subjectAltName=DNS:www.example.com,DNS:mail.example.com",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  const tls = createTlsServer(
    { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
    (s) => {
      s.on("error", () => {});
      s.end();
    },
  );
  tlsPort = await listen(tls);
  const smtp = createNetServer((c) => {
    c.on("error", () => {});
    c.end("220 mail.example.com ESMTP\r\n");
  });
  smtpPort = await listen(smtp);
  const bad = createNetServer((c) => {
    c.on("error", () => {});
    c.end("554 go away\r\n");
  });
  badSmtpPort = await listen(bad);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

test("TLS certificates must cover every moved name; SMTP must greet with 220; closed ports fail", async () => {
  const checks = await runPreflightChecks(
    "127.0.0.1",
    [tlsPort, smtpPort, badSmtpPort, 1],
    ["www.example.com", "shop.example.com"],
    {
      now: new Date(),
      tlsPorts: new Set([tlsPort]),
      smtpPorts: new Set([smtpPort, badSmtpPort]),
      timeoutMs: 3000,
    },
  );
  const by = (check: string) => checks.find((c) => c.check === check);
  expect(by(`tls ${tlsPort} www.example.com`)).toMatchObject({ ok: true });
  expect(by(`tls ${tlsPort} shop.example.com`)).toMatchObject({ ok: false });
  expect(by(`tls ${tlsPort} shop.example.com`)!.detail).toMatch(/does not cover shop\.example\.com/);
  expect(by(`smtp ${smtpPort}`)).toMatchObject({ ok: true, detail: "220 mail.example.com ESMTP" });
  expect(by(`smtp ${badSmtpPort}`)!.detail).toMatch(/banner is "554 go away", expected 220/);
  expect(by("tcp 1")).toMatchObject({ ok: false });
});

test("an expired certificate fails", async () => {
  const later = new Date(Date.now() + 60 * 86_400_000);
  const checks = await runPreflightChecks("127.0.0.1", [tlsPort], ["www.example.com"], {
    now: later,
    tlsPorts: new Set([tlsPort]),
  });
  expect(checks.find((c) => c.check.startsWith("tls"))!.detail).toMatch(/certificate expired/);
});
