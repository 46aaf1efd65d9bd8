import { formatDuration, relativeLabel, type ChangeSet, type TimelineStep } from "@cutover/core";
import { count } from "./words.js";

/** Planned times are shown exactly (`90m`, not `1h30m` rounded). */
const WHOLE = { whole: true } as const;

/**
 * What a step does, in one line: the plan's table, `plan --json`, status, the report, the dry run and the
 * edge deployment (whose Worker gets it in its plan module) all print this. Rendered from the step's own
 * data; the timeline stores none of it.
 */
export function stepSummary(step: TimelineStep): string {
  switch (step.kind) {
    case "lower": {
      const from = ttls(step.changes, "before", true);
      return `lower TTL ${from}→${ttls(step.changes, "after")} on ${count(step.changes.changes.length, "record")} in ${[...new Set(step.changes.changes.map((c) => c.zone))].join(", ")}`;
    }
    case "restore":
      return `restore TTL ${ttls(step.changes, "before")}→${ttls(step.changes, "after", true)} on ${count(step.changes.changes.length, "record")}`;
    case "swap": {
      const how = { atomic: " (one atomic update per zone)", batch: " (one batch per zone)", each: "" }[step.writes];
      return `swap ${count(step.changes.changes.length, "record")} → ${step.to.join(", ")}${how}`;
    }
    case "preflight": {
      const checks = step.ports.length > 0 ? `new host answers on ${step.ports.join(",")}` : "new host reachable";
      return `preflight: ${checks}${step.tlsPorts.length ? `; TLS names on ${step.tlsPorts.join(",")}` : ""}${step.smtp ? "; SMTP banner" : ""}`;
    }
    case "sync":
      return `warm sync: rsync ${count(step.paths, "path")} from the old host to the new one (the final delta runs in the handover's hold)`;
    case "handover": {
      const what = [
        step.ports.length
          ? `relay takes ports ${step.ports.map((p) => (p.to === p.listen ? p.listen : `${p.listen}→${p.to}`)).join(",")}`
          : "",
        step.sockets.length ? `sockets ${step.sockets.join(", ")}` : "",
      ].filter(Boolean);
      const services = step.stopServices.length ? `; services stop (${step.stopServices.join(" ")})` : "";
      const sync = step.sync
        ? `; new connections held (≤ ${formatDuration(step.sync.maxHoldMs, WHOLE)}, then ${step.sync.onTimeout}) while the final sync runs (${step.sync.what.join(", ")})`
        : "";
      return `handover on old host (${step.mode}): ${what.join(", ")}${services}${sync}`;
    }
    case "watch":
      return `watch propagation: every authoritative server, ${step.resolvers === "default" ? "the public resolvers" : count(step.resolvers, "resolver")}${step.atlasProbes === undefined ? "" : `, RIPE Atlas (${step.atlasProbes} probes)`}`;
    case "drain": {
      // The drain is due `quietMs` after the swap: its deadline is told relative to the swap, like every label.
      const swapAt = new Date(step.at.getTime() - step.quietMs);
      return `drain relay on old host when quiet ${formatDuration(step.quietMs, WHOLE)} (deadline ${relativeLabel(step.deadline, swapAt)}); report stale clients`;
    }
  }
}

/** A change set's TTLs before or after, each once (`86400/3600`), highest first where asked. */
function ttls(set: ChangeSet, side: "before" | "after", highestFirst = false): string {
  const values = [...new Set(set.changes.map((c) => c[side].ttl))];
  return (highestFirst ? values.sort((a, b) => b - a) : values).join("/");
}
