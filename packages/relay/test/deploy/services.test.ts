import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOldHost, type OldHost } from "../../src/deploy/connect.js";
import { controlServices, detectServiceManager, serviceCommand } from "../../src/deploy/services.js";
import { freePort } from "../_servers.js";
import { installTestService, startSshd, type TestService, type TestSshd } from "@cutover/testkit";

let sshd: TestSshd;
let host: OldHost;
let svc: TestService;

beforeAll(async () => {
  sshd = await startSshd();
  svc = await installTestService(await freePort());
  host = await connectOldHost({ ssh: sshd.target, hostKey: sshd.hostFingerprint }, { privateKeyPath: sshd.userKey });
}, 30_000);
afterAll(async () => {
  host?.close();
  await svc?.remove();
  await sshd?.stop();
});

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

describe("controlServices over SSH with sudo -n", () => {
  it("finds the service manager the host really has (no systemd running here: service)", async () => {
    expect(await detectServiceManager(host)).toBe("service");
    expect(serviceCommand("systemd", "stop")).toEqual(["systemctl", "stop", "{service}"]);
  });

  it("starts and stops a service, reporting the state before and after", async () => {
    const started = await controlServices(host, [svc.name], "start");
    expect(started).toMatchObject({ manager: "service", action: "start" });
    expect(started.services).toEqual([{ name: svc.name, before: "inactive", after: "active", ok: true, error: null }]);
    expect(await svc.running()).toBe(true);
    for (let i = 0; i < 50 && !(await answers(svc.port)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await answers(svc.port)).toBe(true);

    const dry = await controlServices(host, [svc.name], "stop", { dryRun: true });
    expect(dry.services[0]).toMatchObject({ before: "active", after: "active" });
    expect(await svc.running()).toBe(true);

    const stopped = await controlServices(host, [svc.name], "stop");
    expect(stopped.services).toEqual([{ name: svc.name, before: "active", after: "inactive", ok: true, error: null }]);
    expect(await answers(svc.port)).toBe(false);
  });

  it("reports a service that does not exist without stopping the others", async () => {
    await controlServices(host, [svc.name], "start");
    const r = await controlServices(host, ["cvt-no-such-service", svc.name], "stop");
    expect(r.services[0]).toMatchObject({ name: "cvt-no-such-service", before: "unknown", ok: false });
    expect(r.services[0]!.error).toMatch(/unrecognized service/);
    expect(r.services[1]).toMatchObject({ name: svc.name, ok: true, after: "inactive" });
  });

  it("refuses names with shell metacharacters before anything runs", async () => {
    await controlServices(host, [svc.name], "start");
    const marker = join(sshd.dir, "pwned");
    for (const evil of [`x; touch ${marker}`, "$(touch /tmp/x)", "-h", "a b", "`id`", "a|b", ""]) {
      await expect(controlServices(host, [svc.name, evil], "stop")).rejects.toMatchObject({
        code: "E_SERVICE_NAME",
        message: expect.stringContaining("nothing was run"),
      });
    }
    expect(existsSync(marker)).toBe(false);
    expect(await svc.running()).toBe(true); // the valid name before the bad one was not stopped either
  });
});
