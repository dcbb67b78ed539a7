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

test("src/openapi.ts is what the running server's /openapi.json generates", async () => {
  const server = await live();
  const generator = (await import(pathToFileURL(join(PACKAGE_DIR, "scripts/gen-types.mjs")).href)) as Generator;
  const fresh = await generator.generate(await generator.load(server.url));
  const checkedIn = await readFile(join(PACKAGE_DIR, "src/openapi.ts"), "utf8");
  assert.ok(fresh.includes('"/v1/ask"') && fresh.includes("SearchBody"), "the generated types lack the API");
  assert.equal(
    checkedIn,
    fresh,
    "the server's API changed: run `npm run gen:types -- " + server.url + "` (against a server of this tree) and commit src/openapi.ts",
  );
});
