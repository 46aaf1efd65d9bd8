import { defaultSparePort, type RelayConfig, type UpstreamConfig } from "../config.js";
import { RelayError } from "../errors.js";
import { planRedirect } from "../handover.js";
import { checkServiceNames, shellJoin, shellQuote } from "./_shell.js";

export interface SocatScriptOptions {
  /** The move's name, for comments and log lines. */
  name: string;
  /** Directory on the old host holding the script, its log, tunnel sockets, SSH key and known_hosts. */
  dir: string;
  /**
   * known_hosts lines for each SSH connection in `config.ssh` (by name): written next to the script so
   * the tunnel's `ssh` checks the new host's key (StrictHostKeyChecking=yes).
   */
  knownHosts?: Record<string, string[]>;
  /** Half-close timeout (socat -t, seconds): after one side's FIN, wait this long for the other's. Default 120. */
  halfCloseSeconds?: number;
  /** Idle timeout (socat -T, seconds). Default 3600. */
  idleSeconds?: number;
  /** The generation time, for the header. */
  now?: Date;
}

export interface SocatScript {
  script: string;
  /** Files the script expects next to it in `dir` (known_hosts per SSH connection). */
  files: { name: string; data: string; mode: number }[];
  /** What socat cannot do that the config asks for (PROXY protocol, UDP limits). */
  warnings: string[];
}

function hp(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The relay as a POSIX shell script around socat, for old hosts without Node: `reuseaddr` (binds again
 * at once despite TIME_WAIT), a large backlog (socat's default of 5 stalls clients), a half-close timeout
 * that keeps a connection open after one side's FIN (socat's default 0.5 s loses late replies), unix
 * sockets with owner/group/mode, SSH tunnels to the new host with its key checked, every listener
 * restarted if socat dies, the handover at `handover.at` (rebind or redirect, then the services stop),
 * and cleanup on exit (children stopped, sockets and redirect rules removed).
 */
export function planSocatScript(config: RelayConfig, options: SocatScriptOptions): SocatScript {
  const warnings: string[] = [];
  const files: SocatScript["files"] = [];
  const dir = options.dir;
  const t = options.halfCloseSeconds ?? 120;
  const T = options.idleSeconds ?? 3600;
  const backlog = Math.max(511, config.limits?.backlog ?? 4096);
  const mode = config.handover?.mode ?? "none";
  const services = config.handover?.services ?? [];
  checkServiceNames(services);
  const at = config.handover?.at === undefined ? "" : String(Math.floor(Date.parse(config.handover.at) / 1000));
  const table = config.handover?.table ?? "cutover";

  const tunnels: string[] = [];
  const tunnelFor = new Map<string, string>();
  const upstreamAddress = (u: UpstreamConfig): string => {
    if (u.kind === "tcp") return `TCP:${hp(u.host, u.port)},connect-timeout=10`;
    if (u.kind === "unix") return `UNIX-CONNECT:${u.path}`;
    const key = `${u.via}/${u.host}/${u.port}`;
    let sock = tunnelFor.get(key);
    if (sock === undefined) {
      const s = config.ssh?.[u.via];
      if (s === undefined)
        throw new RelayError(`upstream via ${u.via}: no such ssh connection`, { code: "E_RELAY_CONFIG" });
      sock = `${dir}/tunnel-${tunnelFor.size + 1}.sock`;
      tunnelFor.set(key, sock);
      const lines = options.knownHosts?.[u.via] ?? [];
      if (lines.length === 0)
        throw new RelayError(
          `ssh ${u.via} (${s.host}): no known_hosts line for the new host, so the tunnel could not check its key`,
          {
            code: "E_SSH_HOSTKEY_UNKNOWN",
            hint: "connect once with ssh to record the new host's key in known_hosts, or give a known_hosts file that has it (cutover relay script --known-hosts FILE)",
          },
        );
      const kh = `ssh-${u.via}.known_hosts`;
      if (!files.some((f) => f.name === kh)) files.push({ name: kh, data: `${lines.join("\n")}\n`, mode: 0o600 });
      const argv = [
        "ssh",
        "-N",
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        `UserKnownHostsFile=${dir}/${kh}`,
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        "StreamLocalBindUnlink=yes",
        "-o",
        "StreamLocalBindMask=0177",
        ...(s.privateKeyPath === undefined ? [] : ["-i", s.privateKeyPath, "-o", "IdentitiesOnly=yes"]),
        "-p",
        String(s.port ?? 22),
        "-L",
        `${sock}:${hp(u.host, u.port).replace(/^\[(.*)\]/, "$1")}`,
        `${s.username}@${s.host}`,
      ];
      tunnels.push(`keep ${shellQuote(`ssh tunnel ${s.host} → ${hp(u.host, u.port)}`)} ${shellJoin(argv)}`);
    }
    return `UNIX-CONNECT:${sock}`;
  };

  const socat = ["socat", "-d", "-t", String(t), "-T", String(T)];
  const early: string[] = []; // listeners that start at once (redirect: spare ports)
  const late: string[] = []; // listeners that start at the handover
  const sockets: string[] = [];
  const rules: { port: number; sparePort: number }[] = [];
  for (const l of config.listeners) {
    if (l.kind === "udp") {
      const listen = `UDP-RECVFROM:${l.port},fork,reuseaddr${l.host ? `,bind=${l.host}` : ""}`;
      late.push(
        `keep ${shellQuote(`udp ${l.port}`)} ${shellJoin([...socat.slice(0, 2), "-T", "60", listen, `UDP:${hp(l.upstream.host, l.upstream.port)}`])}`,
      );
      warnings.push(`udp ${l.port}: socat answers each datagram from a new process; fine for DNS-like traffic only`);
      continue;
    }
    if (l.proxyProtocol !== undefined)
      warnings.push(
        `${l.kind === "tcp" ? `port ${l.port}` : l.path}: socat cannot send PROXY protocol ${l.proxyProtocol}; the new host must not expect it there, and it sees every client as the old host`,
      );
    const up = upstreamAddress(l.upstream);
    if (l.kind === "unix") {
      const opts = ["fork", "unlink-early", `backlog=${backlog}`, `mode=${(l.mode ?? "0666").replace(/^0?/, "0")}`];
      if (l.owner !== undefined) opts.push(`user=${l.owner}`);
      if (l.group !== undefined) opts.push(`group=${l.group}`);
      sockets.push(l.path);
      (mode === "none" ? early : late).push(
        `keep ${shellQuote(l.path)} ${shellJoin([...socat, `UNIX-LISTEN:${l.path},${opts.join(",")}`, up])}`,
      );
      continue;
    }
    const spare = mode === "redirect" ? (l.sparePort ?? defaultSparePort(l.port)) : l.port;
    const bind = l.host === undefined ? "" : `,bind=${l.host.includes(":") ? `[${l.host}]` : l.host}`;
    const family = l.host === undefined ? "$TCPL" : l.host.includes(":") ? "TCP6-LISTEN" : "TCP4-LISTEN";
    const listen = `${family}:${spare}${bind},reuseaddr,fork,backlog=${backlog}${family === "TCP4-LISTEN" ? "" : ",ipv6only=0"}`;
    // $TCPL is chosen at run time (IPv6 present or not); the rest is quoted.
    const line = `keep ${shellQuote(`tcp ${l.port}`)} ${shellJoin(socat)} "${listen}" ${shellQuote(up)}`;
    if (mode === "redirect") {
      early.push(line);
      rules.push({ port: l.port, sparePort: spare });
    } else (mode === "none" ? early : late).push(line);
  }
  const nft =
    mode === "redirect" && rules.length > 0 ? planRedirect(rules, "nft", table, [], null).commands[0]! : undefined;

  const q = shellQuote;
  const lines = [
    "#!/bin/sh",
    `# cutover relay, socat fallback, for the move ${q(options.name)}; generated ${(options.now ?? new Date()).toISOString()}.`,
    "# Run as root on the old host: sh relay.sh (logs go to stderr). SIGTERM or Ctrl-C stops it and cleans up.",
    ...warnings.map((w) => `# WARNING: ${w}`),
    "set -u",
    `DIR=${q(dir)}`,
    `AT=${q(at)}  # handover time, seconds since the epoch by this host's clock ('' = at once)`,
    `SERVICES=${q(services.join(" "))}`,
    `SOCKETS=${q(sockets.join(" "))}`,
    "PIDS=",
    `log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) relay-socat[$$] $*" >&2; }`,
    "command -v socat >/dev/null 2>&1 || { log 'socat is not installed (apt-get install socat)'; exit 1; }",
    "if [ -e /proc/net/if_inet6 ]; then TCPL=TCP6-LISTEN; else TCPL=TCP4-LISTEN; fi",
    "",
    "# keep NAME CMD...: run CMD again whenever it exits (e.g. the port is not free yet), until we stop.",
    "keep() {",
    "  name=$1; shift",
    "  (",
    '    c=; trap \'[ -n "$c" ] && kill "$c" 2>/dev/null; exit 0\' TERM INT',
    '    n=0; while :; do "$@" & c=$!; wait "$c"; rc=$?; n=$((n+1))',
    '      [ $((n % 50)) -eq 1 ] && log "$name: exited ($rc); starting again"; sleep 0.2; done',
    "  ) &",
    '  PIDS="$PIDS $!"',
    "}",
    "",
    "cleanup() {",
    "  trap - EXIT INT TERM",
    '  log "stopping"',
    '  for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done',
    "  wait",
    ...(nft === undefined
      ? []
      : [`  nft delete table inet ${table} 2>/dev/null && log "removed the redirect rules (nft ${table})"`]),
    '  for s in $SOCKETS; do [ -S "$s" ] && rm -f "$s"; done',
    `  rm -f "$DIR"/tunnel-*.sock`,
    '  log "stopped"',
    "}",
    "trap cleanup EXIT",
    "trap 'exit 0' INT TERM",
    "",
    "stop_services() {",
    "  for s in $SERVICES; do",
    '    if [ -d /run/systemd/system ]; then systemctl stop "$s"; else service "$s" stop; fi',
    '    if [ $? -eq 0 ]; then log "handover: stopped $s"; else log "handover: could not stop $s"; fi',
    "  done",
    "}",
    "",
    ...(tunnels.length > 0
      ? [
          "# SSH tunnels to the new host (its key checked against the known_hosts line next to this script)",
          ...tunnels,
          `for s in ${[...tunnelFor.values()].map(q).join(" ")}; do`,
          '  i=0; while [ ! -S "$s" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done',
          '  [ -S "$s" ] || log "the SSH tunnel $s is not up yet (see the ssh errors above); retrying in the background"',
          "done",
          "",
        ]
      : []),
    ...(early.length > 0 ? ["# listeners that start at once", ...early, ""] : []),
    'if [ -n "$AT" ]; then',
    '  log "handover armed for $(date -u -d "@$AT" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo "$AT")"',
    '  while now=$(date +%s); [ "$now" -lt "$AT" ]; do',
    '    d=$((AT - now)); [ "$d" -gt 30 ] && d=30; sleep "$d" & wait $!',
    "  done",
    "fi",
    ...(mode === "redirect"
      ? [
          "# redirect: new connections for the service ports go to the spare ports; the services finish their own",
          `nft -f - <<'NFT' || { log "nft refused the redirect rules"; exit 1; }`,
          `add table inet ${table}`,
          `delete table inet ${table}`,
          nft ?? "",
          "NFT",
          `log "handover: redirect rules in (nft table ${table})"`,
          "sleep 1",
          "stop_services",
          ...late,
        ]
      : mode === "rebind"
        ? [
            "# rebind: listeners keep trying to bind while the services stop",
            ...late,
            "stop_services",
            'log "handover: done"',
          ]
        : late),
    'log "running (pid $$)"',
    "wait",
    "",
  ];
  return { script: lines.join("\n"), files, warnings };
}
