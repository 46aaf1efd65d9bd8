export { renderMoveReport, type MoveReportOptions } from "../report/move.js";
