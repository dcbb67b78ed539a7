/** Search, cited answers (plain and streamed, to the end and aborted), chat completions, feedback, traces, models. */
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";
import { Ragwright, RequestAbortedError, StreamInterruptedError, type AskEvent } from "../src/index.js";
import { DRAFT, live, TRAVEL, type Live } from "./harness.js";
import { assertShape, SHAPES } from "./shapes.js";

const QUESTION = "What meal allowance do employees get abroad?";
let travelDoc: Promise<string> | null = null;

/** The travel note, uploaded once for the whole tenant acme; its document id. */
export function travel(server: Live): Promise<string> {
  travelDoc ??= (async () => {
    const rw = new Ragwright({ baseURL: server.url, apiKey: server.keys.alice });
    const up = await rw.documents.upload({ name: "travel.md", data: Buffer.from(TRAVEL) });
    const job = await rw.documents.waitForJob(up.job_id, { intervalMs: 50 });
    assert.equal(job.status, "done");
    return up.document_ids[0]!;
  })();
  return travelDoc;
}

async function setup(): Promise<{ server: Live; rw: Ragwright; docId: string }> {
  const server = await live();
  const docId = await travel(server);
  return { server, rw: new Ragwright({ baseURL: server.url, apiKey: server.keys.alice }), docId };
}

/** Waits until ragwright has closed every connection to the model, and says how many it hung up. */
async function modelReleased(server: Live, before: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (server.model.open > 0 || server.model.hungUp === before) {
    assert.ok(Date.now() < deadline, "ragwright still reads the model 10 s after the client left");
    await new Promise((ok) => setTimeout(ok, 50));
  }
  return server.model.hungUp - before;
}

test("search finds the uploaded document", async () => {
  const { rw, docId } = await setup();
  const found = await rw.search({ query: "meal allowance abroad", k: 3 });
  assertShape(found, SHAPES.searchResponse, "search");
  assertShape(found.results[0], SHAPES.searchResult, "search result");
  assert.equal(found.results[0]?.doc_id, docId);
  assert.equal(found.results[0]?.source, "travel.md");
  assert.match(found.results[0]!.text, /60 euros/);
});

test("ask gives the model's answer with its citation checked against the document", async () => {
  const { rw, docId } = await setup();
  const answer = await rw.ask({ question: QUESTION });
  assertShape(answer, SHAPES.answer, "answer");
  assertShape(answer.citations[0], SHAPES.citation, "citation");
  assert.equal(answer.mode, "generated", answer.fallback);
  assert.equal(answer.answer, DRAFT);
  assert.equal(answer.abstained, false);
  assert.deepEqual(
    answer.citations.map((c) => [c.n, c.doc_id, c.source]),
    [[1, docId, "travel.md"]],
  );
});

test("a streamed ask read to its end: the model's draft as deltas, then the checked answer", async () => {
  const { rw, docId } = await setup();
  const stream = await rw.askStream({ question: QUESTION });
  const events: AskEvent[] = [];
  for await (const event of stream) events.push(event);
  const deltas = events.filter((e) => e.type === "delta");
  assert.ok(deltas.length > 3, "the draft came in pieces");
  assert.equal(deltas.map((d) => d.text).join(""), DRAFT);
  assert.equal(stream.text, DRAFT);
  const last = events.at(-1)!;
  assert.equal(last.type, "answer");
  assert.equal(events.filter((e) => e.type !== "delta").length, 1);
  if (last.type !== "answer") return;
  assertShape(last.answer, SHAPES.answer, "streamed answer");
  assert.equal(last.answer.answer, DRAFT);
  assert.equal(last.answer.citations[0]?.doc_id, docId);

  const again = await (await rw.askStream({ question: QUESTION })).finalAnswer();
  assert.equal(again.answer, DRAFT);
});

test("aborting a streamed ask mid-answer closes the connection, and the server stops the model's stream", async () => {
  const { server, rw } = await setup();
  server.model.stallAfter = 2; // two words, then the model goes quiet for a minute
  try {
    const before = server.model.hungUp;
    const controller = new AbortController();
    const stream = await rw.askStream({ question: QUESTION }, { signal: controller.signal });
    const got: string[] = [];
    const started = Date.now();
    await assert.rejects(
      (async () => {
        for await (const event of stream) {
          if (event.type === "delta") got.push(event.text);
          if (got.length === 2) controller.abort();
        }
      })(),
      RequestAbortedError,
    );
    assert.ok(Date.now() - started < 5_000, "the loop ended at the abort, not at a timeout");
    assert.equal(got.join(""), DRAFT.match(/\s*\S+/g)!.slice(0, 2).join(""));
    assert.equal(await modelReleased(server, before), 1);

    // leaving a for-await loop early (break) closes it the same way
    const before2 = server.model.hungUp;
    for await (const event of await rw.askStream({ question: QUESTION })) if (event.type === "delta") break;
    assert.equal(await modelReleased(server, before2), 1);
  } finally {
    server.model.stallAfter = null;
  }
});

test("a streamed ask whose model goes quiet ends at timeoutMs with a typed error, not a hang", async () => {
  const { server, rw } = await setup();
  server.model.stallAfter = 1;
  try {
    const before = server.model.hungUp;
    const stream = await rw.askStream({ question: QUESTION }, { timeoutMs: 1_500 });
    const started = Date.now();
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (e: unknown) => e instanceof StreamInterruptedError && e.partialText.length > 0,
    );
    assert.ok(Date.now() - started < 6_000);
    assert.equal(await modelReleased(server, before), 1, "the client's timeout freed the server's model call too");
  } finally {
    server.model.stallAfter = null;
  }
});

test("chat completions with rag:default, plain and streamed", async () => {
  const { rw, docId } = await setup();
  const messages = [{ role: "user" as const, content: QUESTION }];
  const plain = await rw.chat.completions.create({ model: "rag:default", messages });
  assert.match(plain.choices[0]!.message.content, /60 euros \[1\]/);
  assert.equal(plain.citations?.[0]?.doc_id, docId);
  assert.ok(plain.usage.total_tokens > 0);

  const stream = await rw.chat.completions.create({ model: "rag:default", messages, stream: true });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.equal(stream.text, plain.choices[0]!.message.content);
  assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, "stop");
  assert.equal(chunks.at(-1)?.citations?.[0]?.doc_id, docId);

  const routed = await rw.chat.completions.create({ model: "default", messages: [{ role: "user", content: "hi" }] });
  assert.equal(routed.choices[0]!.message.content, DRAFT); // the gateway route to the model, no retrieval
  const routedStream = await rw.chat.completions.create({ model: "default", messages, stream: true });
  for await (const _ of routedStream);
  assert.equal(routedStream.text, DRAFT);
});

test("the openai npm package pointed at ragwright (the README's example)", async () => {
  const { server, docId } = await setup();
  const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.keys.alice });
  const reply = await openai.chat.completions.create({
    model: "rag:default",
    messages: [{ role: "user", content: QUESTION }],
  });
  assert.match(reply.choices[0]!.message.content ?? "", /60 euros \[1\]/);
  assert.equal((reply as unknown as { citations: { doc_id: string }[] }).citations[0]?.doc_id, docId);
  let text = "";
  const stream = await openai.chat.completions.create({
    model: "rag:default",
    messages: [{ role: "user", content: QUESTION }],
    stream: true,
  });
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  assert.equal(text, reply.choices[0]!.message.content);
});

test("feedback on an answer, and the answer's trace", async () => {
  const { rw, docId } = await setup();
  const answer = await rw.ask({ question: QUESTION });
  assert.ok(answer.trace_id);
  const given = await rw.feedback.create({
    trace_id: answer.trace_id,
    rating: "up",
    marks: [{ doc_id: docId, relevant: true }],
  });
  assert.equal(given.trace_id, answer.trace_id);
  assert.match(given.feedback_id, /\S/);

  const trace = await rw.traces.get(answer.trace_id);
  assertShape(trace, SHAPES.trace, "trace");
  assert.equal(trace.trace_id, answer.trace_id);
  assert.ok(trace.doc_ids.includes(docId));
  const listed = await rw.traces.list({ limit: 100 });
  assertShape(listed[0], SHAPES.traceSummary, "trace summary");
  assert.ok(listed.some((t) => t.trace_id === answer.trace_id));
});

test("models, evaluation runs, health", async () => {
  const { server } = await setup();
  const admin = new Ragwright({ baseURL: server.url, apiKey: server.keys.admin });
  const ids = (await admin.models.list()).map((m) => m.id);
  assert.ok(ids.includes("rag:default") && ids.includes("default"), ids.join());
  assert.equal((await admin.models.get("rag:default")).owned_by, "ragwright");
  const runs = await admin.evalRuns.list();
  assert.deepEqual(runs.map((r) => r.run_id), ["run-acme"]); // not tenant other's run-other
  assertShape(runs[0], SHAPES.evalRunSummary, "evaluation run summary");
  const run = await admin.evalRuns.get("run-acme");
  assertShape(run, SHAPES.evalRun, "evaluation run");
  assert.deepEqual(run.per_query, { q1: { "ndcg@10": 0.5 } });
  assert.deepEqual(await admin.health(), { status: "ok" });
  assert.deepEqual(await admin.ready(), { status: "ready" });
});
