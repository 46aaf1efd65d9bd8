import { expect, test } from "vitest";
import { planDiff } from "../../src/timeline/session.js";
import { hashPlanText } from "../../src/state/store.js";
import { redactPlanText, redactUrl } from "@cutover/core/plan";
import type { RunState } from "@cutover/core/journal";

const TOKEN = "XyZ-s3cret-t0ken";

test("a URL keeps its origin and loses its user info, path and query", () => {
  expect(redactUrl(`https://hooks.example.net/services/T0/B0/${TOKEN}`)).toBe("https://hooks.example.net/[REDACTED]");
  expect(redactUrl(`https://u:${TOKEN}@hooks.example.net/`)).toBe("https://hooks.example.net/[REDACTED]");
  expect(redactUrl(`https://hooks.example.net/?token=${TOKEN}`)).toBe("https://hooks.example.net/[REDACTED]");
  expect(redactUrl("https://hooks.example.net/")).toBe("https://hooks.example.net/");
});

for (const [form, notify] of [
  ["a plain scalar", `notify:\n  webhook: https://hooks.example.net/services/${TOKEN}\n`],
  ["a quoted url in a map", `notify:\n  webhook: { url: "https://hooks.example.net/s/${TOKEN}", secretEnv: HOOK }\n`],
  [
    "a block map, an anchor used again and a comment",
    `x: &hook 'https://hooks.example.net/s/${TOKEN}'\n# was https://hooks.example.net/s/${TOKEN}\nnotify:\n  webhook:\n    url: *hook\n`,
  ],
  ["a URL inside the command", `notify:\n  command: curl -sf -d @- 'https://hooks.example.net/s/${TOKEN}'\n`],
] as const) {
  test(`the plan text as journaled has no webhook token: ${form}`, () => {
    const text = `name: m\n${notify}timezone: UTC\n`;
    const out = redactPlanText(text);
    expect(out).not.toContain(TOKEN);
    expect(out).toContain("https://hooks.example.net/[REDACTED]");
    expect(out).toContain("name: m\n");
    expect(out).toContain("timezone: UTC\n");
  });
}

test("an edit shows redacted on both sides; a changed token alone is said without showing it", () => {
  const text = (token: string, zone: string) =>
    `name: m\ndns:\n  zones: [${zone}]\nnotify:\n  webhook: https://hooks.example.net/s/${token}\n`;
  const old = text(TOKEN, "example.com");
  const state = { plan: { text: old, hash: hashPlanText(old) } } as RunState;
  const edited = planDiff(state, text(TOKEN, "example.org"), "cutover.yaml");
  expect(edited).toContain("-  zones: [example.com]");
  expect(edited).toContain("+  zones: [example.org]");
  expect(edited).not.toContain(TOKEN);
  const tokenOnly = planDiff(state, text("another-token", "example.com"), "cutover.yaml");
  expect(tokenOnly).toMatch(/only a secret value changed/);
  expect(tokenOnly).not.toContain("another-token");
});
