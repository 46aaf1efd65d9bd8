import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { startProcess, type Netns, type Proc } from "@cutover/testkit";
import { sleep } from "./_helpers.js";

export { freePort, startProcess, type Proc } from "@cutover/testkit";

export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port}`);
    await sleep(25);
  }
}

/** HAProxy in TCP mode, one frontend per entry, each to `server` with the given server options. */
export async function startHaproxy(
  dir: string,
  frontends: { bind: string; port: number; server: string; options: string }[],
): Promise<Proc> {
  const cfg = [
    "global",
    "  maxconn 4000",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
    ...frontends.flatMap((f, i) => [
      `frontend f${i}`,
      `  bind ${f.bind}:${f.port}`,
      `  default_backend b${i}`,
      `backend b${i}`,
      `  server s${i} ${f.server} ${f.options}`,
    ]),
    "",
  ].join("\n");
  const file = join(dir, "haproxy.cfg");
  await writeFile(file, cfg);
  const p = startProcess("/usr/sbin/haproxy", ["-f", file, "-db"]);
  for (const f of frontends) await waitForPort(f.port, f.bind.replace(/^\[|\]$/g, ""));
  return p;
}

/** nginx in the foreground as one process, everything under `dir`; `http` is the body of its http block. */
export async function startNginx(dir: string, http: string, ports: { port: number; host?: string }[]): Promise<Proc> {
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${http}
}
`;
  const file = join(dir, "nginx.conf");
  await writeFile(file, conf);
  const p = startProcess("/usr/sbin/nginx", ["-c", file, "-p", dir, "-e", `${dir}/error.log`]);
  for (const x of ports) await waitForPort(x.port, x.host ?? "127.0.0.1");
  return p;
}

const pkg = resolve(import.meta.dirname, "..");

/** Builds the relay program (dist/main.js) if it is not built yet: the namespace tests run it as a process. */
export function ensureRelayBuilt(): void {
  if (!existsSync(join(pkg, "dist/main.js"))) execFileSync("npx", ["tsc", "-p", "tsconfig.json"], { cwd: pkg });
}

/**
 * Starts the built relay program in `ns` with `config` written to `DIR/NAME.json` (`args` before the file,
 * e.g. `--supervise`). Stopped with the namespace's other programs.
 */
export async function startRelayIn(
  ns: Netns,
  dir: string,
  name: string,
  config: Record<string, unknown>,
  args: string[] = [],
): Promise<Proc> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config));
  return ns.spawn(process.execPath, [join(pkg, "dist/main.js"), ...args, file]);
}

/** The namespace tests' listener: port 80 (redirected to the spare port 20080) to the new host on 127.0.0.1:8081. */
export const LISTENER_80 = {
  kind: "tcp",
  port: 80,
  sparePort: 20080,
  upstream: { kind: "tcp", host: "127.0.0.1", port: 8081 },
} as const;

/** Starts the old service (answers "old" on 80) and the new host (answers "new" on 8081) in `ns`; waits for both. */
export async function startOldAndNew(ns: Netns): Promise<{ old: Proc; new: Proc }> {
  const old = ns.serveText(80, "old");
  const next = ns.serveText(8081, "new");
  await ns.waitForListen(80);
  await ns.waitForListen(8081);
  return { old, new: next };
}

/** A GET from inside `ns`, as a client of that host sees it: the body (trimmed), or `error: ` and curl's message. */
export function curlIn(ns: Netns, url: string, timeoutS: number): string {
  try {
    return ns.exec("curl", "-sS", "-m", String(timeoutS), url).trim();
  } catch (error) {
    return `error: ${(error as { stderr?: string }).stderr?.trim()}`;
  }
}

/** `curlIn` without waiting for it: for a client that is held while the test goes on. */
export function curlInLater(ns: Netns, url: string, timeoutS: number): Promise<string> {
  return new Promise((r) =>
    execFile("ip", ["netns", "exec", ns.name, "curl", "-sS", "-m", String(timeoutS), url], (e, out, err) =>
      r(e ? `error: ${err.trim()}` : out),
    ),
  );
}
