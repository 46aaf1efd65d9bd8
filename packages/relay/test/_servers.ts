import { execFileSync } from "node:child_process";
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
