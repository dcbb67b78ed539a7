/**
 * The client against a real `ragwright serve` (test/harness.ts), started once for the whole run:
 * node --test runs each test file in a process of its own, so the suites are modules of this one.
 */
import { after } from "node:test";
import { stopLive } from "./harness.js";
import "./schema.js";
import "./documents.js";
import "./answers.js";
import "./errors.js";
import "./isolation.js";
import "./keys.js";
import "./readme.js";
import "./exports.js";

after(stopLive);
// A run that hangs fails instead (node --test-timeout is not in every Node this may run on).
setTimeout(() => {
  console.error("the TypeScript client's tests did not finish in 5 minutes");
  process.exit(1);
}, 300_000).unref();
