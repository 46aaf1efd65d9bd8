import type { Command } from "@commander-js/extra-typings";
import type { Deps } from "../context.js";
import { makeArchiveCommand } from "./archive.js";
import { makeDemoCommand } from "./demo.js";
import { makeDnsCommand } from "./dns/index.js";
import { makeInitCommand } from "./init.js";
import { makePlanCommand } from "./plan.js";
import { makePropagationCommand } from "./propagation/index.js";
import { makeRelayCommand } from "./relay/index.js";
import { makeReportCommand } from "./report.js";
import { makeRollbackCommand } from "./rollback.js";
import { makeRunCommand } from "./run.js";
import { makeScheduleCommand } from "./schedule.js";
import { makeStatusCommand } from "./status.js";
import { makeTickCommand } from "./tick.js";

/** Every top-level command, in the order `--help` lists them. One line per noun or verb. */
export const commandMakers: ReadonlyArray<(deps: Deps) => Command<any, any, any>> = [
  makeDemoCommand,
  makeInitCommand,
  makePlanCommand,
  makeRunCommand,
  makeTickCommand,
  makeScheduleCommand,
  makeStatusCommand,
  makeRollbackCommand,
  makeReportCommand,
  makeArchiveCommand,
  makeDnsCommand,
  makePropagationCommand,
  makeRelayCommand,
];
