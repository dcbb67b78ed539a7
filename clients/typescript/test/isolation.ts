/**
 * Tenant isolation, written as the attack: keys of tenant acme (an admin's, which reads every
 * group of its tenant, and a plain writer's) try every client method on tenant other's document,
 * its job, its trace and its evaluation run. None may return a byte of it, nor tell it from a document that does not exist.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NotFoundError, PermissionDeniedError, Ragwright } from "../src/index.js";
import { travel } from "./answers.js";
import { live } from "./harness.js";

const SECRET = "PELICAN-7";
const SECRET_DOC = `# Zanzibar office\nThe Zanzibar office keeps the launch code ${SECRET} in the blue safe.\n`;
const QUESTION = "Where does the Zanzibar office keep the launch code?";

test("a key of tenant acme never sees tenant other's document, job or trace, through any method", async () => {
  const server = await live();
  await travel(server); // acme has a document of its own
  const eve = new Ragwright({ baseURL: server.url, apiKey: server.keys.eve });
  const up = await eve.documents.upload({ name: "zanzibar.md", data: Buffer.from(SECRET_DOC) });
  assert.equal((await eve.documents.waitForJob(up.job_id, { intervalMs: 50 })).status, "done");
  const docId = up.document_ids[0]!;
  // tenant other sees it: the attack below would find it if the filter failed
  const own = await eve.search({ query: "Zanzibar launch code safe", k: 3 });
  assert.equal(own.results[0]?.doc_id, docId);
  const traceId = (await eve.ask({ question: QUESTION })).trace_id!;
  assert.ok((await eve.traces.get(traceId)).trace_id === traceId);

  for (const key of [server.keys.admin, server.keys.alice]) {
    const rw = new Ragwright({ baseURL: server.url, apiKey: key });
    const leaks: string[] = [];
    const check = (what: string, value: unknown): void => {
      const text = JSON.stringify(value);
      if (text.includes(SECRET) || text.includes(docId) || text.includes("zanzibar.md")) leaks.push(what);
    };

    for await (const doc of rw.documents.iterate({ limit: 2 })) check("documents.iterate", doc);
    check("documents.list", await rw.documents.list({ limit: 10_000 }));
    check("search", await rw.search({ query: "Zanzibar office launch code blue safe", k: 100 }));
    check("search by doc_id", await rw.search({ query: "launch code", filters: { doc_id: docId } }));
    for (const mode of ["bm25", "dense"] as const) check(`search ${mode}`, await rw.search({ query: QUESTION, mode }));
    check("ask", await rw.ask({ question: QUESTION }));
    check("askStream", await collect(await rw.askStream({ question: QUESTION })));
    const messages = [{ role: "user" as const, content: QUESTION }];
    check("chat", await rw.chat.completions.create({ model: "rag:default", messages }));
    check("chat stream", await collect(await rw.chat.completions.create({ model: "rag:default", messages, stream: true })));
    check("traces.list", await rw.traces.list({ limit: 1000 }));
    check("evalRuns.list", await rw.evalRuns.list().catch((e: Error) => e.name));
    if (key === server.keys.admin) assert.ok(!JSON.stringify(await rw.evalRuns.list()).includes("run-other"));
    assert.deepEqual(leaks, [], `tenant other's document leaked through: ${leaks.join(", ")}`);

    await assert.rejects(rw.documents.get(docId), NotFoundError);
    await assert.rejects(rw.documents.delete(docId), NotFoundError);
    await assert.rejects(rw.jobs.get(up.job_id), NotFoundError);
    await assert.rejects(rw.documents.waitForJob(up.job_id), NotFoundError);
    await assert.rejects(rw.traces.get(traceId), NotFoundError);
    await assert.rejects(rw.evalRuns.get("run-other"), key === server.keys.admin ? NotFoundError : PermissionDeniedError);
    await assert.rejects(rw.feedback.create({ trace_id: traceId, rating: "down" }), NotFoundError);
    // a mark naming the other tenant's document, on one's own trace
    const mine = (await rw.ask({ question: QUESTION })).trace_id!;
    await assert.rejects(rw.feedback.create({ trace_id: mine, marks: [{ doc_id: docId, relevant: true }] }), (e: unknown) => {
      assert.ok(e instanceof Error && !e.message.includes(SECRET));
      return (e as { status?: number }).status === 422;
    });
  }
  assert.equal((await eve.documents.get(docId)).doc_id, docId, "the attempts left the document in place");
});

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
