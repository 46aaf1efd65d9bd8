import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * A real SysV service for tests, run by `service NAME start|stop|status` (this machine has no systemd):
 * an init script in /etc/init.d that starts socat echoing on a loopback port through start-stop-daemon.
 * Unique name per run; `remove()` stops it and deletes the script and its pid file.
 */
export interface TestService {
  name: string;
  port: number;
  running(): Promise<boolean>;
  remove(): Promise<void>;
}

export async function installTestService(port: number, bind = "127.0.0.1"): Promise<TestService> {
  const name = `cvt-svc-${randomBytes(3).toString("hex")}`;
  const pidfile = `/run/${name}.pid`;
  const script = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          ${name}
# Required-Start:
# Required-Stop:
# Default-Start:
# Default-Stop:
# Short-Description: cutover test service (echo on ${bind}:${port})
### END INIT INFO
PIDFILE=${pidfile}
case "$1" in
  start)
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE \\
      --exec /usr/bin/socat -- TCP-LISTEN:${port},bind=${bind},reuseaddr,fork EXEC:/bin/cat ;;
  stop)
    start-stop-daemon --stop --quiet --pidfile $PIDFILE --retry 5 --remove-pidfile; rc=$?
    [ $rc -eq 1 ] && exit 0; exit $rc ;;
  status)
    start-stop-daemon --status --pidfile $PIDFILE; exit $? ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
`;
  const path = `/etc/init.d/${name}`;
  await writeFile(path, script, { mode: 0o755 });
  return {
    name,
    port,
    running: () =>
      run("service", [name, "status"]).then(
        () => true,
        () => false,
      ),
    async remove() {
      await run("service", [name, "stop"]).catch(() => undefined);
      await rm(path, { force: true });
      await rm(pidfile, { force: true });
    },
  };
}
