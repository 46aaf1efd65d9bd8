import { connect as netConnect, type Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate } from "node:tls";
import type { StepRuntime } from "./run.js";
import type { PreflightCheck, StepOutcome } from "@cutover/core/journal";

import { StepFailed } from "./run.js";
import { syncChecks } from "./sync.js";

export type { PreflightCheck };

const IMPLICIT_TLS = new Set([443, 465, 993, 995]);
const SMTP = new Set([25, 587]);

function withTimeout<T>(
  ms: number,
  what: string,
  fn: (done: (v: T) => void, fail: (e: Error) => void) => Socket,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let sock: Socket | undefined;
    const timer = setTimeout(() => {
      sock?.destroy();
      reject(new Error(`${what}: no answer within ${ms / 1000}s`));
    }, ms);
    const finish = (v: T) => {
      clearTimeout(timer);
      sock?.destroy();
      resolve(v);
    };
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock?.destroy();
      reject(e);
    };
    sock = fn(finish, fail);
    sock.on("error", (e) => fail(new Error(`${what}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
  });
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<void> {
  return withTimeout(timeoutMs, `${host}:${port}`, (done) => {
    const s = netConnect({ host, port });
    s.on("connect", () => done(undefined));
    return s;
  });
}

function smtpBanner(host: string, port: number, timeoutMs: number): Promise<string> {
  return withTimeout(timeoutMs, `${host}:${port} SMTP banner`, (done, fail) => {
    const s = netConnect({ host, port });
    let buf = "";
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        if (line.startsWith("220")) done(line);
        else fail(new Error(`${host}:${port} SMTP banner is "${line}", expected 220`));
      }
    });
    return s;
  });
}

function tlsCert(host: string, port: number, servername: string, timeoutMs: number): Promise<PeerCertificate> {
  return withTimeout(timeoutMs, `${host}:${port} TLS for ${servername}`, (done) => {
    // The chain is judged separately; here we need the certificate the new host presents for this name.
    const s = tlsConnect({ host, port, servername, rejectUnauthorized: false });
    s.on("secureConnect", () => done(s.getPeerCertificate()));
    return s;
  });
}

/**
 * Before the swap: the new host answers on every relay port, its TLS certificates on 443/465/993/995
 * cover the names that move and are not expired, and its SMTP banner answers. Fails loudly, before the
 * swap rather than after.
 */
export async function runPreflightChecks(
  target: string,
  ports: readonly number[],
  names: readonly string[],
  options: { timeoutMs?: number; now: Date; tlsPorts?: ReadonlySet<number>; smtpPorts?: ReadonlySet<number> },
): Promise<PreflightCheck[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const tlsPorts = options.tlsPorts ?? IMPLICIT_TLS;
  const smtpPorts = options.smtpPorts ?? SMTP;
  const checks = ports.map(async (port): Promise<PreflightCheck[]> => {
    const out: PreflightCheck[] = [];
    try {
      await tcpCheck(target, port, timeoutMs);
      out.push({ check: `tcp ${port}`, ok: true, detail: "answers" });
    } catch (error) {
      return [{ check: `tcp ${port}`, ok: false, detail: (error as Error).message }];
    }
    if (tlsPorts.has(port)) {
      for (const name of names) {
        try {
          const cert = await tlsCert(target, port, name, timeoutMs);
          const mismatch = checkServerIdentity(name, cert);
          const expires = Date.parse(cert.valid_to);
          if (mismatch)
            out.push({
              check: `tls ${port} ${name}`,
              ok: false,
              detail: `certificate does not cover ${name} (${mismatch.message})`,
            });
          else if (Number.isFinite(expires) && expires < options.now.getTime())
            out.push({ check: `tls ${port} ${name}`, ok: false, detail: `certificate expired ${cert.valid_to}` });
          else out.push({ check: `tls ${port} ${name}`, ok: true, detail: `covered, valid until ${cert.valid_to}` });
        } catch (error) {
          out.push({ check: `tls ${port} ${name}`, ok: false, detail: (error as Error).message });
        }
      }
    }
    if (smtpPorts.has(port)) {
      try {
        out.push({ check: `smtp ${port}`, ok: true, detail: await smtpBanner(target, port, timeoutMs) });
      } catch (error) {
        out.push({ check: `smtp ${port}`, ok: false, detail: (error as Error).message });
      }
    }
    return out;
  });
  return (await Promise.all(checks)).flat();
}

/** The timeline's preflight step: every check must pass, or the step fails (and is retried) before the swap. */
export async function preflightStep(
  rt: StepRuntime,
  env: Record<string, string | undefined> = process.env,
): Promise<StepOutcome<"preflight">> {
  const { plan } = rt.loaded;
  const target = plan.new.ipv4 ?? plan.new.ipv6!;
  const names = [...new Set(rt.timeline.targets.map((r) => r.name))];
  // the ports the relay forwards to on the new host
  const ports = plan.relay.ports.map((p) => plan.relay.targets[String(p)] ?? p);
  const checks = await runPreflightChecks(target, ports, names, { now: rt.now() });
  if (plan.sync !== undefined) checks.push(...(await syncChecks(rt, env)));
  const failed = checks.filter((c) => !c.ok);
  for (const c of checks) rt.say(`preflight ${c.ok ? "ok  " : "FAIL"} ${c.check}: ${c.detail}`);
  if (failed.length > 0) {
    throw new StepFailed(
      "preflight",
      failed.map((c) => `${c.check}: ${c.detail}`).join("; "),
      "the swap has not happened; fix the new host and run again",
      checks,
    );
  }
  return { status: "done", result: { checks } };
}
