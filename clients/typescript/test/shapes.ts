/**
 * The hand-written response types (src/types.ts) against what the real server sends. Each list
 * below must name exactly the fields of its type (`satisfies` fails the build otherwise), and
 * `assertShape` fails a test when the server's object has other fields: so neither the types nor
 * the server can change without the other.
 */
import assert from "node:assert/strict";
import type {
  Answer,
  Citation,
  Document,
  DocumentPage,
  EvalRun,
  EvalRunSummary,
  Job,
  SearchResponse,
  SearchResult,
  Trace,
  TraceSummary,
  UploadResponse,
} from "../src/index.js";

type Fields<T> = Record<keyof T, true>;

const EVAL_RUN_SUMMARY = {
  run_id: true,
  created_at: true,
  kind: true,
  dataset: true,
  split: true,
  pipeline: true,
  metrics: true,
  tenant: true,
} satisfies Fields<EvalRunSummary>;

export const SHAPES = {
  searchResponse: { results: true, trace_id: true } satisfies Fields<SearchResponse>,
  searchResult: {
    doc_id: true,
    chunk_id: true,
    source: true,
    score: true,
    text: true,
    title: true,
    heading_path: true,
    page: true,
    location: true,
  } satisfies Fields<SearchResult>,
  answer: {
    question: true,
    answer: true,
    abstained: true,
    citations: true,
    mode: true,
    reason: true,
    removed_citations: true,
    dropped_sentences: true,
    trace_id: true,
    guard: true,
    fallback: true,
  } satisfies Fields<Answer>,
  citation: {
    n: true,
    doc_id: true,
    chunk_id: true,
    source: true,
    text: true,
    score: true,
    location: true,
  } satisfies Fields<Citation>,
  document: {
    doc_id: true,
    source: true,
    title: true,
    format: true,
    content_hash: true,
    n_chunks: true,
    metadata: true,
    size: true,
    updated_at: true,
    tenant: true,
    groups: true,
  } satisfies Fields<Document>,
  documentPage: { documents: true, total: true, next_offset: true } satisfies Fields<DocumentPage>,
  upload: { job_id: true, document_ids: true, status: true, status_url: true } satisfies Fields<UploadResponse>,
  job: {
    job_id: true,
    kind: true,
    status: true,
    tenant: true,
    key_id: true,
    total: true,
    done: true,
    result: true,
    error: true,
    created_at: true,
    updated_at: true,
    files: true,
    groups: true,
  } satisfies Fields<Job>,
  trace: {
    trace_id: true,
    name: true,
    start: true,
    input: true,
    output: true,
    duration_ms: true,
    status: true,
    error: true,
    key_id: true,
    tenant: true,
    doc_ids: true,
    spans: true,
    cost_usd: true,
    input_tokens: true,
    output_tokens: true,
  } satisfies Fields<Trace>,
  traceSummary: {
    trace_id: true,
    started_at: true,
    name: true,
    key_id: true,
    tenant: true,
    duration_ms: true,
    status: true,
    cost_usd: true,
    input_tokens: true,
    output_tokens: true,
    input: true,
  } satisfies Fields<TraceSummary>,
  evalRunSummary: EVAL_RUN_SUMMARY,
  evalRun: {
    ...EVAL_RUN_SUMMARY,
    dataset_hash: true,
    code_version: true,
    config: true,
    per_query: true,
    seconds: true,
    coverage: true,
    cases: true,
  } satisfies Fields<EvalRun>,
};

/** The object has exactly the fields its type names. */
export function assertShape(value: unknown, shape: Record<string, true>, what: string): void {
  assert.ok(value && typeof value === "object", `${what}: not an object`);
  assert.deepEqual(Object.keys(value).sort(), Object.keys(shape).sort(), `${what}: fields differ from src/types.ts`);
}
