/**
 * Errors as types: the server's statuses, bad construction, and what proxies and networks do
 * (an HTML error page, a 503 with Retry-After, a stream cut off, no answer at all), the last ones
 * through small loopback servers standing in front of the real one.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { test } from "node:test";
import {
  APIConnectionError,
  APITimeoutError,
  AuthenticationError,
  InternalServerError,
  InvalidResponseError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  Ragwright,
  RagwrightError,
  RateLimitError,
  RequestAbortedError,
  StreamInterruptedError,
  UnprocessableEntityError,
  type APIError,
} from "../src/index.js";
import { travel } from "./answers.js";
import { freePort, live, serve } from "./harness.js";

/** assert.rejects' check: the error's class, status and server type. */
const typed =
  (Class: new (...args: never[]) => APIError, status: number, type: string) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof Class, `expected ${Class.name}, got ${String(e)}`);
    assert.equal(e.status, status);
    assert.equal(e.type, type);
    assert.ok(e.message.length > 0);
    return true;
  };

test("401, 403, 404, 413 and 422 from the server are typed errors with status, type and message", async () => {
  const server = await live();
  const url = server.url;
  const stranger = new Ragwright({ baseURL: url, apiKey: "rw_not_a_key" });
  await assert.rejects(stranger.search({ query: "x" }), typed(AuthenticationError, 401, "unauthorized"));

  const reader = new Ragwright({ baseURL: url, apiKey: server.keys.reader });
  const upload = { name: "x.md", data: Buffer.from("# X\nx\n") };
  await assert.rejects(reader.documents.upload(upload), typed(PermissionDeniedError, 403, "forbidden"));
  await assert.rejects(reader.evalRuns.list(), typed(PermissionDeniedError, 403, "forbidden"));
  const alice = new Ragwright({ baseURL: url, apiKey: server.keys.alice });
  await assert.rejects(alice.documents.upload(upload, { groups: ["eng"] }), typed(PermissionDeniedError, 403, "forbidden"));

  await assert.rejects(alice.documents.get("no-such-doc"), typed(NotFoundError, 404, "not_found"));
  const big = { name: "big.txt", data: Buffer.alloc(1024 * 1024 + 10, "a") }; // ingest.max_file_mb = 1
  await assert.rejects(alice.documents.upload(big), typed(PayloadTooLargeError, 413, "too_large"));
  await assert.rejects(alice.search({ query: "x", k: 0 }), typed(UnprocessableEntityError, 422, "invalid_request"));
  await assert.rejects(
    alice.search({ query: "x", k: "5" as unknown as number }),
    typed(UnprocessableEntityError, 422, "invalid_request"),
  );
  await assert.rejects(alice.ask({ question: "" }), typed(UnprocessableEntityError, 422, "invalid_request"));
  await assert.rejects(alice.askStream({ question: "" }), typed(UnprocessableEntityError, 422, "invalid_request"));
});

test("a 429 whose Retry-After passes the call's deadline is thrown at once, with the wait asked for", async () => {
  const server = await live();
  const limited = new Ragwright({ baseURL: server.url, apiKey: server.keys.limited, timeoutMs: 10_000 });
  await limited.search({ query: "allowance" }); // the key's one request this minute
  const started = Date.now();
  await assert.rejects(limited.search({ query: "allowance" }), (e: unknown) => {
    assert.ok(e instanceof RateLimitError && e.status === 429 && e.type === "rate_limited");
    assert.ok(e.retryAfterMs! >= 1_000, `Retry-After: ${e.headers.get("retry-after")}`);
    return true;
  });
  assert.ok(Date.now() - started < 2_000, "no pointless wait for a retry that could not fit");
});

test("construction fails at once without a base URL or a key", () => {
  delete process.env.RAGWRIGHT_BASE_URL;
  delete process.env.RAGWRIGHT_API_KEY;
  assert.throws(() => new Ragwright({ apiKey: "k" }), /no baseURL/);
  assert.throws(() => new Ragwright({ baseURL: "http://127.0.0.1:1" }), /no apiKey/);
  assert.throws(() => new Ragwright({ baseURL: "127.0.0.1:8000", apiKey: "k" }), /must be an http\(s\) URL/);
  assert.throws(() => new Ragwright({ baseURL: "", apiKey: "k" }), RagwrightError);
});

/** A loopback server in front of the real one: `fault` answers a request itself, or returns false to forward it. */
async function proxy(
  target: string,
  fault: (req: IncomingMessage, res: ServerResponse, n: number) => boolean | Promise<boolean>,
  onChunk?: (res: ServerResponse, chunk: Uint8Array) => void,
): Promise<{ url: string; close: () => Promise<void>; requests: () => number }> {
  let n = 0;
  const front = await serve(async (req, res) => {
    n++;
    if (await fault(req, res, n)) return;
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const body = Buffer.concat(parts);
    const hop = ["host", "content-length", "connection", "keep-alive", "transfer-encoding"];
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !hop.includes(k)));
    const upstream = await fetch(target + req.url, {
      method: req.method,
      headers: headers as Record<string, string>,
      body: req.method === "GET" ? undefined : body,
    });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "" });
    res.flushHeaders();
    for await (const chunk of upstream.body as unknown as AsyncIterable<Uint8Array>) {
      if (onChunk) onChunk(res, chunk);
      else res.write(chunk);
      if (res.destroyed) return;
    }
    res.end();
  });
  return { ...front, requests: () => n };
}

test("a proxy's HTML error page is an InvalidResponseError with the status and the body's first bytes", async () => {
  const server = await live();
  const front = await proxy(server.url, (_req, res) => {
    res.writeHead(502, { "content-type": "text/html" });
    res.end("<html><body><h1>502 Bad Gateway</h1>" + "x".repeat(5_000) + "</body></html>");
    return true;
  });
  try {
    const rw = new Ragwright({ baseURL: front.url, apiKey: server.keys.alice });
    await assert.rejects(rw.search({ query: "x" }), (e: unknown) => {
      assert.ok(e instanceof InvalidResponseError && e.status === 502);
      assert.ok(e.bodyPreview.startsWith("<html><body><h1>502 Bad Gateway") && e.bodyPreview.length === 200);
      return true;
    });
    assert.equal(front.requests(), 1, "a 502 is not retried");
  } finally {
    await front.close();
  }
  const ok = await serve((_req, res) => void res.end("<html>a login page</html>"));
  try {
    const rw = new Ragwright({ baseURL: ok.url, apiKey: "k" });
    await assert.rejects(rw.documents.list(), (e: unknown) => e instanceof InvalidResponseError && e.status === 200);
  } finally {
    await ok.close();
  }
});

test("503 with Retry-After is retried after the wait for a search, and not for an upload unless asked", async () => {
  const server = await live();
  await travel(server);
  let failures = 0;
  const unavailable = (_req: IncomingMessage, res: ServerResponse): boolean => {
    if (failures === 0) return false;
    failures--;
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
    res.end(JSON.stringify({ error: { type: "unavailable", message: "try again" } }));
    return true;
  };
  const front = await proxy(server.url, unavailable);
  try {
    const rw = new Ragwright({ baseURL: front.url, apiKey: server.keys.alice });
    failures = 1;
    const started = Date.now();
    const found = await rw.search({ query: "meal allowance" });
    assert.ok(found.results.length > 0);
    assert.equal(front.requests(), 2);
    assert.ok(Date.now() - started >= 950, "waited for Retry-After");

    const upload = { name: "retried.md", data: Buffer.from("# R\nRetried uploads arrive once.\n") };
    failures = 1;
    await assert.rejects(rw.documents.upload(upload), (e: unknown) => e instanceof InternalServerError && e.status === 503);
    assert.equal(front.requests(), 3, "an upload is not retried by default");
    failures = 1;
    const up = await rw.documents.upload(upload, { retry: true });
    assert.equal(front.requests(), 5);
    assert.equal((await rw.documents.waitForJob(up.job_id, { intervalMs: 50 })).status, "done");
  } finally {
    await front.close();
  }
});

test("a stream cut off mid-answer ends the loop with StreamInterruptedError and the text so far", async () => {
  const server = await live();
  await travel(server);
  let cut = false;
  const front = await proxy(
    server.url,
    () => false,
    (res, chunk) => {
      // the bytes up to the end of the first delta event, then the connection is gone
      if (cut) return;
      const text = Buffer.from(chunk).toString("utf8");
      const start = text.indexOf("event: delta");
      if (start < 0) return void res.write(chunk);
      res.write(text.slice(0, text.indexOf("\n\n", start) + 2));
      cut = true;
      setTimeout(() => res.socket?.destroy(), 100); // after those bytes have left
    },
  );
  try {
    const rw = new Ragwright({ baseURL: front.url, apiKey: server.keys.alice });
    const stream = await rw.askStream({ question: "What meal allowance do employees get abroad?" });
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (e: unknown) => e instanceof StreamInterruptedError && e.partialText.length > 0 && stream.text === e.partialText,
    );
  } finally {
    await front.close();
  }
});

test("a timeout per call, an AbortSignal on every call, and a refused connection, as typed errors", async () => {
  const server = await live();
  const silent = await serve(() => undefined); // accepts, never answers
  try {
    const rw = new Ragwright({ baseURL: silent.url, apiKey: server.keys.alice, timeoutMs: 60_000 });
    let started = Date.now();
    await assert.rejects(rw.documents.list({ timeoutMs: 300 }), APITimeoutError);
    assert.ok(Date.now() - started < 3_000);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    started = Date.now();
    await assert.rejects(rw.ask({ question: "q" }, { signal: controller.signal }), RequestAbortedError);
    assert.ok(Date.now() - started < 3_000);
    const aborted = AbortSignal.abort();
    const calls = [
      rw.search({ query: "q" }, { signal: aborted }),
      rw.askStream({ question: "q" }, { signal: aborted }),
      rw.documents.upload({ name: "a.md", data: Buffer.from("a") }, { signal: aborted }),
      rw.documents.get("d", { signal: aborted }),
      rw.documents.delete("d", { signal: aborted }),
      rw.documents.waitForJob("j", { signal: aborted }),
      rw.jobs.get("j", { signal: aborted }),
      rw.chat.completions.create({ model: "rag:default", messages: [] }, { signal: aborted }),
      rw.feedback.create({ trace_id: "t", rating: "up" }, { signal: aborted }),
      rw.traces.list({ signal: aborted }),
      rw.traces.get("t", { signal: aborted }),
      rw.evalRuns.list({ signal: aborted }),
      rw.evalRuns.get("r", { signal: aborted }),
      rw.models.list({ signal: aborted }),
    ];
    for (const call of calls) await assert.rejects(call, RequestAbortedError);
  } finally {
    await silent.close();
  }
  const nobody = new Ragwright({ baseURL: `http://127.0.0.1:${await freePort()}`, apiKey: "k", maxRetries: 1 });
  await assert.rejects(nobody.search({ query: "q" }), APIConnectionError);
});

test("the real server's 404 for an unknown job, trace and evaluation run", async () => {
  const server = await live();
  const admin = new Ragwright({ baseURL: server.url, apiKey: server.keys.admin });
  await assert.rejects(admin.jobs.get("j_0000"), NotFoundError);
  await assert.rejects(admin.traces.get("t_0000"), NotFoundError);
  await assert.rejects(admin.evalRuns.get("r_0000"), NotFoundError);
  await assert.rejects(admin.models.get("rag:nope"), (e: unknown) => e instanceof NotFoundError && e.type === "model_not_found");
});

test("an id of '.' or '..' is refused before any request: it would name another path", async () => {
  // a closed port: a request that went out would fail as a connection error, not as this
  const client = new Ragwright({ baseURL: "http://127.0.0.1:9", apiKey: "rw_x", maxRetries: 0 });
  const refused = (e: unknown) => e instanceof RagwrightError && !(e instanceof APIConnectionError) && /not an id/.test(String(e));
  await assert.rejects(client.models.get("../keys"), refused); // was GET /v1/keys with this key
  await assert.rejects(client.models.get("a/./b"), refused);
  await assert.rejects(client.documents.get(".."), refused);
  await assert.rejects(client.documents.delete("."), refused);
  await assert.rejects(client.keys.revoke(".."), refused);
  await assert.rejects(client.jobs.get(""), refused);
  await assert.rejects(client.models.get("org/model"), APIConnectionError); // an ordinary id goes out
});
