/**
 * ragwright: a TypeScript client for the ragwright HTTP server.
 *
 *   import { Ragwright } from "ragwright";
 *   const rw = new Ragwright({ baseURL: "http://127.0.0.1:8000", apiKey: process.env.RAGWRIGHT_API_KEY });
 *   const answer = await rw.ask({ question: "How long is parental leave?" });
 */
export { Ragwright } from "./client.js";
export type { ListOptions, UploadOptions, WaitOptions } from "./client.js";
export type { ClientOptions, RequestOptions } from "./http.js";
export { AskStream, ChatCompletionStream } from "./streams.js";
export type { Uploadable } from "./uploads.js";
export * from "./errors.js";
export type * from "./types.js";
export type { components, paths, operations } from "./openapi.js";
