// The plan module uploaded beside worker.js (see `planModuleText`); the bundle keeps `./plan.js` external.
import type { EdgePlanData } from "../edge-plan.js";

declare const plan: EdgePlanData;
export default plan;
