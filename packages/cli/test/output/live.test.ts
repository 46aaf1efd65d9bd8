import { expect, test } from "vitest";
import pc from "picocolors";
import { renderTerminal } from "@cutover/testkit";
import { createLiveView } from "../../src/output/live.js";

const c = pc.createColors(true);

/** A terminal of cols x rows that keeps what was written, as the real one would receive it. */
function terminal(cols: number, rows: number) {
  let bytes = "";
  const stream = { columns: cols, rows, write: (s: string) => (bytes += s) };
  return { stream, screen: () => renderTerminal(bytes, cols, rows, { onlcr: true }) };
}

for (const cols of [80, 120]) {
  test(`${cols} columns: lines are cut to the width, a shorter view leaves nothing behind, events stay above`, async () => {
    const t = terminal(cols, 30);
    const view = createLiveView(t.stream);
    const long = (i: number) => `${c.green("✓")} step ${i} ${c.bold("x".repeat(150))} ${c.red("tail")}`;
    view.render([
      c.bold("demo  07:29:01Z"),
      ...Array.from({ length: 9 }, (_, i) => long(i)),
      "⏳ wide ⏳ chars ".repeat(12),
    ]);
    view.print([`07:29:02Z  lower: done ${"and a long event that must wrap, not be cut ".repeat(4)}end`]);
    view.render([c.bold("demo  07:29:03Z"), "short", "x".repeat(cols)]);
    view.print(["07:29:04Z  swap: done"]);
    view.render([c.bold("demo  07:29:05Z"), "done"]);
    view.done();
    const s = await t.screen();
    expect(s.wrapped).toEqual([]); // no line was wider than the terminal
    const event = s.rows.slice(0, -3).join(" ").replace(/ +/g, " ");
    expect(event).toBe(
      `07:29:02Z lower: done ${"and a long event that must wrap, not be cut ".repeat(4)}end`.replace(/ +/g, " "),
    );
    expect(s.rows.slice(-3)).toEqual(["07:29:04Z  swap: done", "demo  07:29:05Z", "done"]);
    for (const r of s.rows) expect(r.length).toBeLessThanOrEqual(cols);
  });
}

test("a cut line keeps its colour codes closed and ends with …", async () => {
  const t = terminal(80, 10);
  const view = createLiveView(t.stream);
  view.render([`${c.red("r".repeat(100))}`, "after"]);
  const s = await t.screen();
  expect(s.rows).toEqual([`${"r".repeat(79)}…`, "after"]);
  expect(s.wrapped).toEqual([]);
});

test("a view taller than the terminal keeps to its height and still redraws exactly", async () => {
  const t = terminal(80, 10);
  const view = createLiveView(t.stream);
  for (let round = 0; round < 3; round++) view.render(Array.from({ length: 20 }, (_, i) => `round ${round} line ${i}`));
  view.print(["event"]);
  view.render(["one", "two"]);
  const s = await t.screen();
  expect(s.rows).toEqual(["event", "one", "two"]);
});

test("a view that grows at the bottom of a full terminal scrolls and stays exact", async () => {
  const t = terminal(80, 8);
  const view = createLiveView(t.stream);
  for (let i = 0; i < 12; i++) view.print([`event ${i}`]);
  for (let n = 1; n <= 6; n++) view.render(Array.from({ length: n }, (_, i) => `line ${i} of ${n}`));
  view.render(["last"]);
  const s = await t.screen();
  expect(s.rows).toEqual([...Array.from({ length: 12 }, (_, i) => `event ${i}`), "last"]);
  expect(s.visible.filter(Boolean).at(-1)).toBe("last");
});
