import { RelayError } from "../errors.js";

/** One argument for a POSIX shell: bare when it is plainly safe, else in single quotes. */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** An argv as one shell command line, every word quoted. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

const UNIT = /^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,254}$/;

/**
 * Checks service names before anything runs on a host: a plain unit name (letters, digits, `: _ . @ -`,
 * not starting with `-`). Anything else, such as `nginx; rm -rf /` or `$(id)`, is refused with every
 * offending name listed.
 */
export function checkServiceNames(services: readonly string[]): void {
  const bad = services.filter((s) => !UNIT.test(s));
  if (bad.length > 0)
    throw new RelayError(`not a plain service name: ${bad.map((s) => JSON.stringify(s)).join(", ")}; nothing was run`, {
      code: "E_SERVICE_NAME",
      hint: "a service is a unit name such as postfix or mariadb.service (letters, digits, : _ . @ -)",
    });
}
