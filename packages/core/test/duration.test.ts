import { expect, test } from "vitest";
import { formatDuration, parseDuration } from "../src/duration.js";

test("one formatter: short by default, exact with whole", () => {
  expect(formatDuration(5_400_000)).toBe("1h30m");
  expect(formatDuration(90_000_000)).toBe("1d1h");
  expect(formatDuration(3_700_000)).toBe("1h1m");
  expect(formatDuration(500)).toBe("500ms");
  expect(formatDuration(0)).toBe("0s");
  // whole: what the planner's fmtSeconds printed (planned times and TTLs, nothing rounded off).
  expect(formatDuration(5_400_000, { whole: true })).toBe("90m");
  expect(formatDuration(90_000_000, { whole: true })).toBe("25h");
  expect(formatDuration(86_400_000, { whole: true })).toBe("1d");
  expect(formatDuration(3_700_000, { whole: true })).toBe("3700s");
  expect(formatDuration(30_000, { whole: true })).toBe("30s");
  expect(formatDuration(0, { whole: true })).toBe("0s");
  for (const text of ["90m", "25h", "1d", "3700s", "30s"]) {
    expect(formatDuration(parseDuration(text)!, { whole: true })).toBe(text);
  }
});
