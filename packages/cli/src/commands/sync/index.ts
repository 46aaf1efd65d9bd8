import { Command } from "@commander-js/extra-typings";
import type { Deps } from "../../context.js";
import { makeSyncCheckCommand } from "./check.js";
import { makeSyncWarmCommand } from "./warm.js";

/** `cutover sync <verb>`: one file per verb in this folder, one line each here. */
const verbs: ReadonlyArray<(deps: Deps) => Command<any, any, any>> = [makeSyncWarmCommand, makeSyncCheckCommand];

export function makeSyncCommand(deps: Deps) {
  const sync = new Command("sync").description(
    "The data the old services write (plan's sync:): a warm rsync pass by hand, and what the final sync needs",
  );
  for (const make of verbs) sync.addCommand(make(deps));
  return sync;
}
