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

after(stopLive);
