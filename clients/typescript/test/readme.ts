/** The TypeScript examples of both READMEs compile against the package as published (dist's types). */
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { PACKAGE_DIR } from "./harness.js";

test("the READMEs' TypeScript examples type-check against the built package", async () => {
  const folder = join(PACKAGE_DIR, "build-test/readme"); // inside the package: `import "ragwright"` is itself
  await mkdir(folder, { recursive: true });
  const files: string[] = [];
  for (const readme of [join(PACKAGE_DIR, "README.md"), join(PACKAGE_DIR, "../../README.md")]) {
    for (const [, code] of (await readFile(readme, "utf8")).matchAll(/```ts\n([\s\S]*?)```/g)) {
      const file = join(folder, `example-${files.length}.ts`);
      await writeFile(file, `export {};\n${code}`); // a module: top-level await
      files.push(file);
    }
  }
  assert.ok(files.length >= 3, `found ${files.length} examples`);
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    types: ["node"],
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    skipLibCheck: true,
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName.split("/").pop()}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line}` : "";
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
  assert.deepEqual(problems, []);
});
