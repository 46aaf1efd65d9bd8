import { Command } from "@commander-js/extra-typings";
import type { Deps } from "../../context.js";
import { makeRelayDeployCommand } from "./deploy.js";
import { makeRelayLogsCommand } from "./logs.js";
import { makeRelayScriptCommand } from "./script.js";
import { makeRelayStartCommand } from "./start.js";
import { makeRelayStatusCommand } from "./status.js";
import { makeRelayStopCommand } from "./stop.js";

/** `cutover relay <verb>`: one file per verb in this folder, one line each here. */
const verbs: ReadonlyArray<(deps: Deps) => Command<any, any, any>> = [
  makeRelayStartCommand,
  makeRelayStatusCommand,
  makeRelayStopCommand,
  makeRelayDeployCommand,
  makeRelayLogsCommand,
  makeRelayScriptCommand,
];

export function makeRelayCommand(deps: Deps) {
  const relay = new Command("relay").description(
    "The relay on the old host: forward what still arrives to the new host, show who still arrives, drain",
  );
  for (const make of verbs) relay.addCommand(make(deps));
  return relay;
}
