/** The package's public names, pinned: a name added or dropped is a decision, made here. */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ragwright from "../src/index.js";

test("the package exports the client, its streams and its errors, and nothing else at run time", () => {
  assert.deepEqual(Object.keys(ragwright).sort(), [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AskStream",
    "AuthenticationError",
    "BadRequestError",
    "ChatCompletionStream",
    "InternalServerError",
    "InvalidResponseError",
    "JobTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Ragwright",
    "RagwrightError",
    "RateLimitError",
    "RequestAbortedError",
    "StreamInterruptedError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "retryAfterMs",
  ]);
  for (const name of Object.keys(ragwright).filter((n) => n.endsWith("Error"))) {
    const Class = (ragwright as unknown as Record<string, new (...args: never[]) => Error>)[name]!;
    assert.ok(Class.prototype instanceof ragwright.RagwrightError || Class === ragwright.RagwrightError, name);
  }
});
