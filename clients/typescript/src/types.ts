/**
 * The API's types. Request bodies come from the server's OpenAPI schema (openapi.ts, generated).
 * Responses are written here: the server declares every response as a free-form object
 * (`dict[str, Any]` in FastAPI), so its schema has nothing to generate them from. The tests check
 * these against what the real server sends, field by field (test/shapes.ts).
 */
import type { components } from "./openapi.js";

type Schemas = components["schemas"];

export type SearchRequest = Schemas["SearchBody"];
/** `stream` is chosen by the method: ask() or askStream(). */
export type AskRequest = Omit<Schemas["AskBody"], "stream">;
export type HistoryTurn = Schemas["HistoryTurn"];
export type ChatCompletionRequest = Schemas["ChatBody"];
export type ChatMessage = Schemas["Message"];
export type FeedbackRequest = Schemas["FeedbackBody"];
export type FeedbackMark = Schemas["Mark"];
export type CreateKeyRequest = Schemas["KeyBody"];
/** Every error response's body; thrown as an APIError of its status's class. */
export type ErrorBody = Schemas["ErrorBody"];

/** One retrieved chunk. */
export interface SearchResult {
  doc_id: string;
  chunk_id: string;
  /** The file name of an upload; the path of a document ingested with the CLI. */
  source: string;
  score: number;
  text: string;
  title: string;
  heading_path: string[];
  page: number | null;
  /** Where a person finds it: the source plus its heading path or page. */
  location: string;
}

export interface SearchResponse {
  results: SearchResult[];
  /** Feedback attaches to it; null when traces are off. */
  trace_id: string | null;
}

export interface Citation {
  /** The `[n]` of the answer's text. */
  n: number;
  doc_id: string;
  chunk_id: string;
  source: string;
  text: string;
  score: number;
  location: string;
}

export interface Answer {
  /** The question searched for (a follow-up made standalone). */
  question: string;
  answer: string;
  abstained: boolean;
  citations: Citation[];
  mode: "extractive" | "generated" | "agent";
  /** Why it abstained, when it did. */
  reason: string;
  removed_citations: Record<string, unknown>[];
  dropped_sentences: string[];
  trace_id: string | null;
  /** What the injection policy found ({} when it is off). */
  guard: Record<string, unknown>;
  /** Why a configured model's answer was not given (the extractive one was instead); "" otherwise. */
  fallback: string;
  /** An agent ask's loop (`agent: true`); {} otherwise. */
  agent: AgentRun | Record<string, never>;
}

/** How an agent ask went: how it ended, what each model turn searched for, the tokens it used. */
export interface AgentRun {
  /** step_limit / deadline: max_steps or the route's deadline_s reached; these and model_failed / no_answer give the extractive answer. */
  status: "answered" | "step_limit" | "deadline" | "model_failed" | "no_answer";
  steps: { n: number; searches: { query: string; chunks?: string[]; error?: string }[]; answered: boolean; latency_ms: number }[];
  usage: { input_tokens: number; output_tokens: number };
}

/** A streamed ask's events, in order: `delta`s, then one `answer` (or one `error`). */
export type AskEvent =
  /** A piece of the draft, as the model writes it. */
  | { type: "delta"; text: string }
  /** The checked answer; it replaces the draft (citations renumbered, unsupported sentences dropped). */
  | { type: "answer"; answer: Answer }
  /** The ask failed after the stream had started. */
  | { type: "error"; error: { type: string; message: string } };

export interface Document {
  doc_id: string;
  source: string;
  title: string;
  format: string;
  content_hash: string;
  n_chunks: number;
  metadata: Record<string, unknown>;
  size: number;
  updated_at: string;
  tenant: string;
  /** Who may read it; [] for the whole tenant. */
  groups: string[];
}

export interface DocumentPage {
  documents: Document[];
  /** Documents this key may read, in all. */
  total: number;
  /** Pass it as `offset` for the next page; null on the last one. */
  next_offset: number | null;
}

export interface DeletedDocument {
  deleted: string;
  source: string;
}

export interface UploadResponse {
  job_id: string;
  /** One per file, in order: known before the job has run. */
  document_ids: string[];
  status: "queued";
  status_url: string;
}

export type JobStatus = "queued" | "running" | "done" | "failed";

export interface IngestReport {
  ingested: number;
  unchanged: number;
  failed: { path: string; error: string }[];
  skipped: { path: string; reason: string }[];
  chunks: number;
  [field: string]: unknown;
}

export interface Job {
  job_id: string;
  kind: string;
  status: JobStatus;
  tenant: string;
  key_id: string | null;
  /** Files in the job, and how many are done. */
  total: number | null;
  done: number | null;
  /** The ingestion's report, once the job is over. */
  result: IngestReport | null;
  error: string | null;
  created_at: number;
  updated_at: number;
  /** The uploaded files' names. */
  files: string[];
  groups: string[];
}

export interface Span {
  span_id: string;
  parent_id: string | null;
  name: string;
  start: number;
  duration_ms: number;
  attributes: Record<string, unknown>;
  status: "ok" | "error";
  error: string | null;
}

export interface Trace {
  trace_id: string;
  name: string;
  start: number;
  input: Record<string, unknown>;
  output: Record<string, unknown>;
  duration_ms: number;
  status: "ok" | "error";
  error: string | null;
  key_id: string | null;
  tenant: string | null;
  doc_ids: string[];
  /** Each document the request read, with the version it read (its content hash). */
  doc_versions: Record<string, string>;
  spans: Span[];
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
}

/** A line of GET /v1/traces: the trace without its spans and output. */
export interface TraceSummary {
  trace_id: string;
  started_at: number;
  name: string;
  key_id: string | null;
  tenant: string | null;
  duration_ms: number;
  status: "ok" | "error";
  cost_usd: number;
  input_tokens: number;
  output_tokens: number;
  input: Record<string, unknown>;
}

export interface FeedbackResponse {
  feedback_id: string;
  trace_id: string;
}

/** A line of GET /v1/eval/runs. */
export interface EvalRunSummary {
  run_id: string;
  /** ISO 8601. */
  created_at: string;
  kind: string;
  dataset: string;
  split: string;
  pipeline: string;
  metrics: Record<string, unknown>;
  tenant: string;
}

/** GET /v1/eval/runs/{id}: the whole run, each query's scores included. */
export interface EvalRun extends EvalRunSummary {
  dataset_hash: string;
  code_version: string;
  config: Record<string, unknown>;
  /** Each query's measures, by query id. */
  per_query: Record<string, Record<string, unknown>>;
  seconds: number;
  coverage: unknown;
  cases: unknown;
}

export interface Model {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** The extra fields of a `rag:` model's completion (and of its stream's last chunk). */
export interface RagFields {
  citations?: Citation[];
  abstained?: boolean;
  trace_id?: string | null;
  guard?: Record<string, unknown>;
  rewritten_question?: string;
}

export interface ChatCompletion extends RagFields {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: "assistant"; content: string; citations?: Citation[] };
    finish_reason: string;
  }[];
  usage: Usage;
}

export interface ChatCompletionChunk extends RagFields {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: { index: number; delta: { role?: "assistant"; content?: string }; finish_reason: string | null }[];
  usage?: Usage;
}

export type KeyScope = "read" | "write" | "admin";

/** A line of GET /v1/keys: never the key itself, nor its hash. */
export interface ApiKey {
  key_id: string;
  tenant: string;
  scopes: KeyScope[];
  /** Groups whose documents the key reads, besides the tenant's ungrouped ones. */
  groups: string[];
  name: string;
  /** Requests per minute; null: no limit. */
  rate_per_min: number | null;
  /** ISO 8601. */
  created_at: string;
  /** ISO 8601 once revoked; null while the key works. */
  revoked_at: string | null;
}

/** POST /v1/keys: the only response that holds the key (`key`); the server keeps its hash. */
export interface CreatedKey {
  key_id: string;
  /** The secret, for `Authorization: Bearer`: shown this once. */
  key: string;
  tenant: string;
  scopes: KeyScope[];
  groups: string[];
  name: string;
  rate_per_min: number | null;
}

export interface RevokedKey {
  revoked: string;
}
