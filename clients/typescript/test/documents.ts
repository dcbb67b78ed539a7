/** Documents: uploads of every kind of input, with groups; jobs and their progress; paging; get; delete. */
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { File as NodeFile } from "node:buffer"; // the global File is Node 20's; node:buffer's is in 18 too
import { Readable } from "node:stream";
import { test } from "node:test";
import { NotFoundError, Ragwright, RagwrightError, type Job } from "../src/index.js";
import { live } from "./harness.js";
import { assertShape, SHAPES } from "./shapes.js";

const note = (topic: string): string => `# ${topic}\nThe ${topic} policy applies to every employee of the company.\n`;

test("uploads a path, a Buffer, a Blob, a File, a Node stream and a web stream, with groups, and waits with progress", async () => {
  const server = await live();
  const rw = new Ragwright({ baseURL: server.url, apiKey: server.keys.alice });
  const dir = await mkdtemp(join(tmpdir(), "rw-upload-"));
  await writeFile(join(dir, "from-path.md"), note("parking"));
  const web = new Blob([note("laptops")]).stream();
  const uploaded = await rw.documents.upload(
    [
      join(dir, "from-path.md"),
      { name: "from-buffer.md", data: Buffer.from(note("badges")) },
      { name: "from-blob.txt", data: new Blob([note("printing")]) },
      new NodeFile([note("lockers")], "from-file.md") as unknown as File,
      { name: "from-node-stream.md", data: Readable.from([Buffer.from(note("bicycles"))]) },
      { name: "from-web-stream.md", data: web },
    ],
    { groups: ["hr"] },
  );
  assertShape(uploaded, SHAPES.upload, "upload");
  assert.equal(uploaded.document_ids.length, 6);

  const seen: Job[] = [];
  const job = await rw.documents.waitForJob(uploaded.job_id, { onProgress: (j) => seen.push(j), intervalMs: 50 });
  assertShape(job, SHAPES.job, "job");
  assert.equal(job.status, "done", JSON.stringify(job));
  assert.equal(job.result?.ingested, 6);
  assert.deepEqual(job.groups, ["hr"]);
  assert.deepEqual([...job.files].sort(), [
    "from-blob.txt",
    "from-buffer.md",
    "from-file.md",
    "from-node-stream.md",
    "from-path.md",
    "from-web-stream.md",
  ]);
  assert.ok(seen.length >= 1 && seen.at(-1)?.status === "done", "onProgress saw the job end");
  for (let i = 1; i < seen.length; i++) assert.notDeepEqual(seen[i], seen[i - 1], "called on changes only");

  for (const docId of uploaded.document_ids) {
    const doc = await rw.documents.get(docId);
    assertShape(doc, SHAPES.document, "document");
    assert.deepEqual(doc.groups, ["hr"]);
    assert.ok(!doc.source.includes(server.dataDir), "no server path in a response");
  }
  const bytes = await rw.documents.get(uploaded.document_ids[1]!);
  assert.equal(bytes.source, "from-buffer.md");
});

test("lists a page at a time, and iterates over every page", async () => {
  const server = await live();
  const rw = new Ragwright({ baseURL: server.url, apiKey: server.keys.admin });
  const names = ["page-a.md", "page-b.md", "page-c.md"];
  const up = await rw.documents.upload(names.map((name) => ({ name, data: Buffer.from(note(name)) })));
  await rw.documents.waitForJob(up.job_id, { intervalMs: 50 });

  const first = await rw.documents.list({ limit: 2 });
  assertShape(first, SHAPES.documentPage, "page");
  assert.equal(first.documents.length, 2);
  assert.equal(first.next_offset, 2);
  const pages = [first];
  while (pages.at(-1)!.next_offset !== null) pages.push(await rw.documents.list({ limit: 2, offset: pages.at(-1)!.next_offset! }));
  const paged = pages.flatMap((p) => p.documents.map((d) => d.doc_id));
  assert.equal(paged.length, first.total);
  assert.equal(new Set(paged).size, paged.length, "no document on two pages");

  const iterated: string[] = [];
  for await (const doc of rw.documents.iterate({ limit: 2 })) iterated.push(doc.doc_id);
  assert.deepEqual(iterated, paged);
  for (const id of up.document_ids) assert.ok(iterated.includes(id));
});

test("deletes a document: it is gone from get, list and search", async () => {
  const server = await live();
  const rw = new Ragwright({ baseURL: server.url, apiKey: server.keys.alice });
  const up = await rw.documents.upload({ name: "doomed.md", data: Buffer.from("# Doomed\nThe quokka sanctuary closes.\n") });
  await rw.documents.waitForJob(up.job_id, { intervalMs: 50 });
  const docId = up.document_ids[0]!;
  assert.equal((await rw.search({ query: "quokka sanctuary", k: 3 })).results[0]?.doc_id, docId);

  const deleted = await rw.documents.delete(docId);
  assert.equal(deleted.deleted, docId);
  await assert.rejects(rw.documents.get(docId), NotFoundError);
  await assert.rejects(rw.documents.delete(docId), NotFoundError);
  const ids: string[] = [];
  for await (const doc of rw.documents.iterate()) ids.push(doc.doc_id);
  assert.ok(!ids.includes(docId));
  const hits = (await rw.search({ query: "quokka sanctuary", k: 10 })).results;
  assert.ok(hits.every((r) => r.doc_id !== docId));
});

test("an unreadable path fails before anything is sent", async () => {
  const server = await live();
  const rw = new Ragwright({ baseURL: server.url, apiKey: server.keys.alice });
  await assert.rejects(rw.documents.upload("/nonexistent/file.md"), (e: unknown) => {
    assert.ok(e instanceof RagwrightError && /cannot read \/nonexistent\/file\.md/.test(e.message));
    return true;
  });
});
