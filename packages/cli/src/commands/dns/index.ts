import { Command } from "@commander-js/extra-typings";
import type { Deps } from "../../context.js";
import { makeDnsLowerTtlCommand } from "./lower-ttl.js";
import { makeDnsProvidersCommand } from "./providers.js";
import { makeDnsRecordsCommand } from "./records.js";
import { makeDnsRestoreCommand } from "./restore.js";
import { makeDnsRollbackCommand } from "./rollback.js";
import { makeDnsServeCommand } from "./serve.js";
import { makeDnsSwapCommand } from "./swap.js";

/** `cutover dns <verb>`: one file per verb in this folder, one line each here. */
const verbs: ReadonlyArray<(deps: Deps) => Command<any, any, any>> = [
  makeDnsRecordsCommand,
  makeDnsLowerTtlCommand,
  makeDnsSwapCommand,
  makeDnsRestoreCommand,
  makeDnsRollbackCommand,
  makeDnsServeCommand,
  makeDnsProvidersCommand,
];

export function makeDnsCommand(deps: Deps) {
  const dns = new Command("dns").description(
    "DNS records of the move: list, lower TTLs, swap, restore, roll back, serve",
  );
  for (const make of verbs) dns.addCommand(make(deps));
  return dns;
}
