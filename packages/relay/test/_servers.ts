import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { sleep } from "./_helpers.js";

export { freePort } from "@cutover/testkit";

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

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Waits (bounded) until the output contains `text`; fails with the output so far. The output reaches us
   * through a pipe, so a line can arrive after the effect a test already saw (an admin socket, a port). */
  waitForOutput: (text: string, timeoutMs?: number) => Promise<void>;
  /** Stops the process by its PID and waits for it to exit. */
  stop: () => Promise<void>;
}

export function startProcess(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    output: () => out,
    waitForOutput: async (text, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (Date.now() > until) throw new Error(`${cmd} did not print ${JSON.stringify(text)}; it printed:\n${out}`);
        await sleep(25);
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, "SIGTERM");
        const t = setTimeout(
          () => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, "SIGKILL"),
          3000,
        );
        await exited;
        clearTimeout(t);
      }
    },
  };
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
