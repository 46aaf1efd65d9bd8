import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { planSchema } from "../../src/plan/schema.js";

// docs/plan-file.md documents every key the plan schema accepts, each as a row of its "Every key" table
// starting with the key's path in backticks (`dns.lowTtl`, `relay.sockets[].to.via`). A key added to the
// schema without its row, or a row for a key the schema does not have, fails here by name.
const DOC = new URL("../../../../docs/plan-file.md", import.meta.url);

interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  in?: { _zod: { def: Def } };
  out?: { _zod: { def: Def } };
  options?: Array<{ _zod: { def: Def } }>;
  element?: { _zod: { def: Def } };
}

/** Every key path the schema accepts (records such as dns.files are one key: their keys are the user's). */
function schemaKeys(def: Def, prefix = ""): string[] {
  switch (def.type) {
    case "object":
      return Object.entries(def.shape ?? {}).flatMap(([k, v]) => {
        const path = prefix ? `${prefix}.${k}` : k;
        return [path, ...schemaKeys(v._zod.def, path)];
      });
    case "optional":
    case "default":
    case "nullable":
    case "prefault":
    case "readonly":
      return schemaKeys(def.innerType!._zod.def, prefix);
    case "pipe":
      return [...schemaKeys(def.in!._zod.def, prefix), ...schemaKeys(def.out!._zod.def, prefix)];
    case "union":
      return (def.options ?? []).flatMap((o) => schemaKeys(o._zod.def, prefix));
    case "array":
      return schemaKeys(def.element!._zod.def, `${prefix}[]`);
    default:
      return [];
  }
}

function documentedKeys(markdown: string): string[] {
  const section = markdown.split(/^## Every key$/m)[1]?.split(/^## /m)[0] ?? "";
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

describe("docs/plan-file.md", () => {
  const inSchema = [...new Set(schemaKeys((planSchema as unknown as { _zod: { def: Def } })._zod.def))].sort();
  const inDoc = documentedKeys(readFileSync(DOC, "utf8"));

  it("finds the schema's keys (the walk itself works)", () => {
    expect(inSchema).toContain("dns.lowTtl");
    expect(inSchema).toContain("relay.sockets[].to.via");
    expect(inSchema).toContain("propagation.authoritative.bootstrap");
  });

  it("documents every key the schema accepts", () => {
    const undocumented = inSchema.filter((k) => !inDoc.includes(k));
    expect(
      undocumented,
      `keys the plan schema accepts but docs/plan-file.md's "Every key" table does not list (add a row \`| \`KEY\` | ... |\` for each): ${undocumented.join(", ")}`,
    ).toEqual([]);
  });

  it("documents no key the schema refuses", () => {
    const unknown = inDoc.filter((k) => !inSchema.includes(k));
    expect(unknown, `rows in docs/plan-file.md for keys the schema does not accept: ${unknown.join(", ")}`).toEqual([]);
  });
});
