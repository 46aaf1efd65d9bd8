import { expect, test } from "vitest";
import { CutoverError, isCutoverError } from "../src/index.js";

test("a CutoverError carries code, hint and cause and is recognised structurally", () => {
  const cause = new Error("socket closed");
  const e = new CutoverError("the relay did not answer", { code: "E_RELAY", hint: "run relay status", cause });
  expect(e).toMatchObject({
    code: "E_RELAY",
    hint: "run relay status",
    userFacing: true,
    message: "the relay did not answer",
  });
  expect(e.cause).toBe(cause);
  expect(isCutoverError(e)).toBe(true);
  // a copy of the class from another bundle is recognised too
  const other = Object.assign(new Error("x"), { code: "E_X", userFacing: true });
  expect(isCutoverError(other)).toBe(true);
  expect(isCutoverError(new Error("plain"))).toBe(false);
  expect(isCutoverError(Object.assign(new Error("coded"), { code: "ENOENT" }))).toBe(false);
});
