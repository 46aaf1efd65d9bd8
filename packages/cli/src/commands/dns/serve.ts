import { startAuthoritativeServer } from "@cutover/dns";
import type { Deps } from "../../context.js";
import { UserError } from "../../errors.js";
import { createReporter } from "../../output/reporter.js";
import { defineCommand } from "../_define.js";

/** `cutover dns serve ZONEFILE... --listen 127.0.0.1:5353`: a small authoritative server until Ctrl-C. */
export function makeDnsServeCommand(deps: Deps) {
  return defineCommand(
    {
      name: "serve",
      description: "Serve zone files as a small authoritative DNS server (UDP and TCP), reloading on change",
      needs: "nothing",
      json: "print the listening address and zones as one JSON line, then log lines as JSON",
      examples: [
        ["cutover dns serve example.com.zone --listen 127.0.0.1:5353"],
        ["cutover dns serve zones/db.example.com zones/other.zone=example.org --listen [::1]:5353"],
        ["dig @127.0.0.1 -p 5353 www.example.com A +norecurse"],
      ],
      notes: "For the offline demo and tests; not a production server. Ctrl-C stops it.",
      exitCodes: {
        0: "stopped with Ctrl-C or SIGTERM",
        1: "a zone file cannot be read or parsed (each problem with its line), or the address cannot be bound",
      },
    },
    (c) =>
      c
        .argument("<zonefiles...>", "zone files; FILE or FILE=ORIGIN (the origin defaults to $ORIGIN or the file name)")
        .option("--listen <addr>", "IP:PORT or [IPv6]:PORT to listen on (UDP and TCP)", "127.0.0.1:5353")
        .option("--log-queries", "print each query"),
  ).action(async (files, opts) => {
    const out = createReporter(deps, { json: opts.json === true, env: deps.env });
    const zoneFiles = files.map((f) => {
      const m = /^(.+)=([^=/]+)$/.exec(f);
      return m ? { file: m[1]!, origin: m[2]! } : { file: f };
    });
    const log = (line: string) => (out.json ? out.write(`${JSON.stringify({ log: line })}\n`) : out.line(line));
    let server;
    try {
      server = await startAuthoritativeServer({
        zoneFiles: zoneFiles.map((z) => ({ ...z, file: z.file.startsWith("/") ? z.file : `${deps.cwd}/${z.file}` })),
        listen: opts.listen,
        logQueries: opts.logQueries === true,
        onLog: log,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        throw new UserError(`zone file not found: ${(error as NodeJS.ErrnoException).path ?? files.join(" ")}`);
      throw error;
    }
    if (out.json)
      out.write(
        `${JSON.stringify({ listening: server.address, zones: server.zones().map((z) => ({ origin: z.origin, serial: z.serial, file: z.file })) })}\n`,
      );
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        resolve();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    await server.close();
    if (!out.json) out.line("stopped");
  });
}
