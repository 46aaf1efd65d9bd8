import { expect, test } from "vitest";
import { RELAY_VERSION } from "../src/index.js";

test("the package loads", () => {
  expect(RELAY_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
});
