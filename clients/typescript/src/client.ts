/**
 * The client: one method per endpoint of the ragwright server, grouped as the API is
 * (documents, jobs, chat.completions, feedback, traces, evalRuns, keys, models). Every method takes
 * RequestOptions last (signal, timeoutMs, maxRetries, retry, headers).
 */
import { JobTimeoutError, RagwrightError, RequestAbortedError } from "./errors.js";
import { Transport, type Call, type ClientOptions, type RequestOptions } from "./http.js";
import { AskStream, ChatCompletionStream } from "./streams.js";
import type {
  Answer,
  ApiKey,
  AskRequest,
  ChatCompletion,
  ChatCompletionRequest,
  CreatedKey,
  CreateKeyRequest,
  DeletedDocument,
  Document,
  DocumentPage,
  EvalRun,
  EvalRunSummary,
  FeedbackRequest,
  FeedbackResponse,
  Job,
  Model,
  RevokedKey,
  SearchRequest,
  SearchResponse,
  Trace,
  TraceSummary,
  UploadResponse,
} from "./types.js";
import { uploadForm, type Uploadable } from "./uploads.js";

/** One path segment, encoded; never empty, "." or "..", which a URL resolves to another path
 * (`models.get("../keys")` asked GET /v1/keys with the application's key). */
function id(value: string): string {
  if (value === "" || value === "." || value === "..") {
    throw new RagwrightError(`not an id: ${JSON.stringify(value)} (empty, "." and ".." name another path)`);
  }
  return encodeURIComponent(value);
}

export class Ragwright {
  readonly documents: Documents;
  readonly jobs: Jobs;
  readonly chat: { completions: ChatCompletions };
  readonly feedback: Feedback;
  readonly traces: Traces;
  readonly evalRuns: EvalRuns;
  readonly keys: Keys;
  readonly models: Models;
  private readonly http: Transport;

  /** Throws at once, with the reason, when the base URL or the key is missing. */
  constructor(options: ClientOptions = {}) {
    this.http = new Transport(options);
    this.jobs = new Jobs(this.http);
    this.documents = new Documents(this.http, this.jobs);
    this.chat = { completions: new ChatCompletions(this.http) };
    this.feedback = new Feedback(this.http);
    this.traces = new Traces(this.http);
    this.evalRuns = new EvalRuns(this.http);
    this.keys = new Keys(this.http);
    this.models = new Models(this.http);
  }

  get baseURL(): string {
    return this.http.baseURL;
  }

  /** Hybrid (BM25 + dense) search over what this key may read. */
  search(request: SearchRequest, options?: RequestOptions): Promise<SearchResponse> {
    return this.http.json({ method: "POST", path: "/v1/search", json: request, idempotent: true }, options);
  }

  /** A cited answer (or an abstention that says why). */
  ask(request: AskRequest, options?: RequestOptions): Promise<Answer> {
    return this.http.json({ method: "POST", path: "/v1/ask", json: { ...request, stream: false }, idempotent: true }, options);
  }

  /**
   * The answer streamed: `for await (const event of await rw.askStream(...))` gets `delta` events
   * while the model writes, then the checked `answer` (or an `error`). A refusal before any text
   * (a blocked question, a bad key) is thrown here, with its status.
   */
  async askStream(request: AskRequest, options?: RequestOptions): Promise<AskStream> {
    const call: Call = { method: "POST", path: "/v1/ask", json: { ...request, stream: true }, idempotent: true };
    const { response, deadline } = await this.http.stream(call, options);
    return new AskStream(response, deadline);
  }

  /** GET /healthz: the process answers (no key needed, but the client sends it). */
  health(options?: RequestOptions): Promise<{ status: string }> {
    return this.http.json({ method: "GET", path: "/healthz", idempotent: true }, options);
  }

  /** GET /readyz: the store and the embedding model are loaded (a 503 NotReady otherwise). */
  ready(options?: RequestOptions): Promise<{ status: string }> {
    return this.http.json({ method: "GET", path: "/readyz", idempotent: true }, options);
  }
}

export interface UploadOptions extends RequestOptions {
  /** Groups that may read the documents (the key must be in them, unless it is an admin's). */
  groups?: string[];
}

export interface ListOptions extends RequestOptions {
  limit?: number;
  offset?: number;
}

class Documents {
  constructor(
    private readonly http: Transport,
    private readonly jobs: Jobs,
  ) {}

  /** Uploads files; they are ingested by a background job (see waitForJob). Not retried unless `retry: true`. */
  async upload(files: Uploadable | Uploadable[], options: UploadOptions = {}): Promise<UploadResponse> {
    const form = await uploadForm(Array.isArray(files) ? files : [files], options.groups);
    return this.http.json({ method: "POST", path: "/v1/documents", form, idempotent: false }, options);
  }

  /** A page of the documents this key may read, by source. */
  list(options: ListOptions = {}): Promise<DocumentPage> {
    const query = { limit: options.limit, offset: options.offset };
    return this.http.json({ method: "GET", path: "/v1/documents", query, idempotent: true }, options);
  }

  /** Every document this key may read, fetched a page at a time. */
  async *iterate(options: ListOptions = {}): AsyncGenerator<Document> {
    let offset: number | null = options.offset ?? 0;
    while (offset !== null) {
      const page: DocumentPage = await this.list({ ...options, offset });
      yield* page.documents;
      offset = page.next_offset;
    }
  }

  async get(docId: string, options?: RequestOptions): Promise<Document> {
    return this.http.json({ method: "GET", path: `/v1/documents/${id(docId)}`, idempotent: true }, options);
  }

  /** Deletes the document and everything derived from it (its uploaded file too). */
  async delete(docId: string, options?: RequestOptions): Promise<DeletedDocument> {
    return this.http.json({ method: "DELETE", path: `/v1/documents/${id(docId)}`, idempotent: true }, options);
  }

  /** Polls an upload's job until it is done or failed: see Jobs.wait. */
  waitForJob(jobId: string, options?: WaitOptions): Promise<Job> {
    return this.jobs.wait(jobId, options);
  }
}

export interface WaitOptions extends RequestOptions {
  /** Called with the job whenever its status or progress (`done` of `total` files) changes. */
  onProgress?: (job: Job) => void;
  /** Between polls (default 250 ms). */
  intervalMs?: number;
  /** The whole wait (default 10 minutes); each poll has the client's timeoutMs. */
  waitTimeoutMs?: number;
}

class Jobs {
  constructor(private readonly http: Transport) {}

  async get(jobId: string, options?: RequestOptions): Promise<Job> {
    return this.http.json({ method: "GET", path: `/v1/jobs/${id(jobId)}`, idempotent: true }, options);
  }

  /**
   * The job once it is over: status "done", or "failed" with its `error` (files that failed
   * while others were ingested are in `result.failed`). JobTimeoutError after `waitTimeoutMs`.
   */
  async wait(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const { onProgress, intervalMs = 250, waitTimeoutMs = 600_000, ...request } = options;
    const end = Date.now() + waitTimeoutMs;
    let seen = "";
    for (;;) {
      const job = await this.get(jobId, request);
      const now = `${job.status}/${job.done}/${job.total}`;
      if (now !== seen) {
        seen = now;
        onProgress?.(job);
      }
      if (job.status === "done" || job.status === "failed") return job;
      if (Date.now() + intervalMs > end) {
        throw new JobTimeoutError(`job ${jobId} is still ${job.status} after ${waitTimeoutMs} ms`);
      }
      await pause(intervalMs, options.signal);
    }
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RequestAbortedError("the wait was aborted", { cause: signal.reason }));
    const stop = (): void => {
      clearTimeout(timer);
      reject(new RequestAbortedError("the wait was aborted", { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}

class ChatCompletions {
  constructor(private readonly http: Transport) {}

  /**
   * OpenAI's chat completion: `model: "rag:default"` answers from the documents with citations;
   * another model names a gateway route or model. With `stream: true`, a ChatCompletionStream.
   */
  create(request: ChatCompletionRequest & { stream: true }, options?: RequestOptions): Promise<ChatCompletionStream>;
  create(request: ChatCompletionRequest & { stream?: false }, options?: RequestOptions): Promise<ChatCompletion>;
  async create(
    request: ChatCompletionRequest,
    options?: RequestOptions,
  ): Promise<ChatCompletion | ChatCompletionStream> {
    const call: Call = { method: "POST", path: "/v1/chat/completions", json: request, idempotent: true };
    if (!request.stream) return this.http.json(call, options);
    const { response, deadline } = await this.http.stream(call, options);
    return new ChatCompletionStream(response, deadline);
  }
}

class Feedback {
  constructor(private readonly http: Transport) {}

  /** Rates an answer (by its trace_id), corrects it, or marks chunks. Not retried unless `retry: true`. */
  create(request: FeedbackRequest, options?: RequestOptions): Promise<FeedbackResponse> {
    return this.http.json({ method: "POST", path: "/v1/feedback", json: request, idempotent: false }, options);
  }
}

class Traces {
  constructor(private readonly http: Transport) {}

  /** The key's own traces, newest first (an admin key: its tenant's). */
  async list(options: RequestOptions & { limit?: number } = {}): Promise<TraceSummary[]> {
    const call: Call = { method: "GET", path: "/v1/traces", query: { limit: options.limit }, idempotent: true };
    return (await this.http.json<{ traces: TraceSummary[] }>(call, options)).traces;
  }

  async get(traceId: string, options?: RequestOptions): Promise<Trace> {
    return this.http.json({ method: "GET", path: `/v1/traces/${id(traceId)}`, idempotent: true }, options);
  }
}

class EvalRuns {
  constructor(private readonly http: Transport) {}

  /** The evaluation runs of the key's tenant (an admin key's). */
  async list(options?: RequestOptions): Promise<EvalRunSummary[]> {
    return (await this.http.json<{ runs: EvalRunSummary[] }>({ method: "GET", path: "/v1/eval/runs", idempotent: true }, options))
      .runs;
  }

  async get(runId: string, options?: RequestOptions): Promise<EvalRun> {
    return this.http.json({ method: "GET", path: `/v1/eval/runs/${id(runId)}`, idempotent: true }, options);
  }
}

/**
 * API keys of the calling key's tenant (admin keys only). An admin key manages its own tenant's
 * keys alone: another tenant's are made by the operator with `ragwright keys create`.
 */
class Keys {
  constructor(private readonly http: Transport) {}

  /**
   * Makes a key; the result's `key` is the secret, shown this once (the server keeps its hash).
   * Its `rate_per_min` is at most the calling key's own limit. Not retried unless `retry: true`.
   */
  create(request: CreateKeyRequest, options?: RequestOptions): Promise<CreatedKey> {
    return this.http.json({ method: "POST", path: "/v1/keys", json: request, idempotent: false }, options);
  }

  /** The tenant's keys, revoked ones included, oldest first. */
  async list(options?: RequestOptions): Promise<ApiKey[]> {
    return (await this.http.json<{ keys: ApiKey[] }>({ method: "GET", path: "/v1/keys", idempotent: true }, options)).keys;
  }

  /** Every request with the key is refused (401) from now on. Unknown, revoked or another tenant's: NotFoundError. */
  async revoke(keyId: string, options?: RequestOptions): Promise<RevokedKey> {
    return this.http.json({ method: "DELETE", path: `/v1/keys/${id(keyId)}`, idempotent: true }, options);
  }
}

class Models {
  constructor(private readonly http: Transport) {}

  /** What a chat completion may name: routes, models, and `rag:` collections. */
  async list(options?: RequestOptions): Promise<Model[]> {
    return (await this.http.json<{ data: Model[] }>({ method: "GET", path: "/v1/models", idempotent: true }, options)).data;
  }

  async get(modelId: string, options?: RequestOptions): Promise<Model> {
    return this.http.json({ method: "GET", path: `/v1/models/${modelId.split("/").map(id).join("/")}`, idempotent: true }, options);
  }
}
