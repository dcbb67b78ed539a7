/** The checked-in types (src/openapi.ts) are what the generator makes of the running server's schema. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { live, PACKAGE_DIR } from "./harness.js";

interface Generator {
  generate: (schema: unknown) => Promise<string>;
  load: (source: string) => Promise<unknown>;
}

/**
 * The types without their comments: the descriptions come from the server's docstrings, and a
 * reworded docstring is no drift of the API (the test says so, and passes).
 */
function shapeOf(source: string): string {
  return source
    .replace(/\/\*\*[\s\S]*?\*\//g, "")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .join("\n");
}

test("src/openapi.ts is what the running server's /openapi.json generates", async (t) => {
  const server = await live();
  const generator = (await import(pathToFileURL(join(PACKAGE_DIR, "scripts/gen-types.mjs")).href)) as Generator;
  const fresh = await generator.generate(await generator.load(server.url));
  const checkedIn = await readFile(join(PACKAGE_DIR, "src/openapi.ts"), "utf8");
  assert.ok(fresh.includes('"/v1/ask"') && fresh.includes("SearchBody"), "the generated types lack the API");
  assert.equal(
    shapeOf(checkedIn),
    shapeOf(fresh),
    `the server's API changed: run \`cd clients/typescript && npm run gen:types -- URL\` against a server of this tree ` +
      "(`ragwright serve`), check the client against the change, and commit src/openapi.ts",
  );
  if (checkedIn !== fresh) t.diagnostic("only descriptions differ: `npm run gen:types` refreshes them");
});
