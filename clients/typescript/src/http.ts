/**
 * One HTTP call: the standard `fetch` (Node 20, browsers, Deno, Bun), a deadline per call,
 * the caller's AbortSignal, retries with back-off on 429 and 503 honouring Retry-After, and every
 * failure turned into one of the typed errors of errors.ts. Written here, not taken from a library
 * (ky, ofetch, p-retry): the package has no runtime dependency, and what it needs of them (a
 * retry loop that reads Retry-After against a deadline) is about 40 lines.
 */
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  InvalidResponseError,
  RagwrightError,
  RequestAbortedError,
  retryAfterMs,
} from "./errors.js";

export interface ClientOptions {
  /** The server, e.g. "http://127.0.0.1:8000" (default: the RAGWRIGHT_BASE_URL environment variable). */
  baseURL?: string;
  /** `Authorization: Bearer <apiKey>` (default: RAGWRIGHT_API_KEY). */
  apiKey?: string;
  /** Default deadline of a call, retries included (default 60 000 ms; 0: none). */
  timeoutMs?: number;
  /** Default retries of a call on 429 and 503, and on a failed connection (default 2). */
  maxRetries?: number;
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** Another fetch (a proxy agent's, a test's); default: the global one. */
  fetch?: typeof fetch;
}

/** Accepted by every call. */
export interface RequestOptions {
  signal?: AbortSignal;
  /**
   * This call's deadline, retries included. A streamed call: the wait for the response's headers,
   * then each wait for the next bytes of the stream.
   */
  timeoutMs?: number;
  /** This call's retries. */
  maxRetries?: number;
  /**
   * Retry a call that is not idempotent (an upload, feedback) on 429/503: off unless asked, since
   * a 503 from a proxy may come after the server did the work.
   */
  retry?: boolean;
  headers?: Record<string, string>;
}

export interface Call {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  form?: FormData;
  /** Safe to send twice: retried unless the caller says `maxRetries: 0`. */
  idempotent: boolean;
}

const RETRY_STATUSES = new Set([429, 503]);
const PREVIEW_CHARS = 200;

/** The `process.env` of Node, Deno and Bun; nothing in a browser. */
function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name] || undefined;
}

export class Transport {
  readonly baseURL: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  private readonly apiKey: string;
  private readonly headers: Record<string, string>;
  private readonly fetch: typeof fetch;

  constructor(options: ClientOptions = {}) {
    const baseURL = options.baseURL ?? env("RAGWRIGHT_BASE_URL");
    const apiKey = options.apiKey ?? env("RAGWRIGHT_API_KEY");
    if (!baseURL) {
      throw new RagwrightError("ragwright: no baseURL: pass { baseURL: 'http://host:8000' } or set RAGWRIGHT_BASE_URL");
    }
    if (!/^https?:\/\/[^/]/.test(baseURL)) {
      throw new RagwrightError(`ragwright: baseURL must be an http(s) URL, got ${JSON.stringify(baseURL)}`);
    }
    if (!apiKey) {
      throw new RagwrightError(
        "ragwright: no apiKey: pass { apiKey } or set RAGWRIGHT_API_KEY (create one with `ragwright keys create`)",
      );
    }
    this.baseURL = baseURL.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxRetries = options.maxRetries ?? 2;
    this.headers = options.headers ?? {};
    const found = options.fetch ?? globalThis.fetch;
    if (typeof found !== "function") throw new RagwrightError("ragwright: no global fetch: pass { fetch }");
    this.fetch = found.bind(globalThis);
  }

  /** A call whose answer is JSON: the parsed body. */
  async json<T>(call: Call, options: RequestOptions = {}): Promise<T> {
    const { response, deadline } = await this.send(call, options);
    try {
      return (await parseJSON(response)) as T;
    } catch (error) {
      throw deadline.explain(error);
    } finally {
      deadline.release();
    }
  }

  /**
   * A call whose answer is streamed: the response once its headers came (an error status is
   * thrown here), and the deadline, which the stream's reader renews as bytes arrive.
   */
  async stream(call: Call, options: RequestOptions = {}): Promise<{ response: Response; deadline: Deadline }> {
    return this.send(call, options);
  }

  private async send(call: Call, options: RequestOptions): Promise<{ response: Response; deadline: Deadline }> {
    const deadline = new Deadline(options.timeoutMs ?? this.timeoutMs, options.signal);
    const retries = call.idempotent || options.retry ? (options.maxRetries ?? this.maxRetries) : 0;
    try {
      for (let attempt = 0; ; attempt++) {
        let response: Response;
        try {
          response = await this.fetch(this.url(call), this.init(call, options, deadline.signal));
        } catch (error) {
          const failure = deadline.explain(error);
          if (!(failure instanceof APIConnectionError) || failure instanceof APITimeoutError) throw failure;
          if (attempt >= retries || !call.idempotent) throw failure; // it may have reached the server
          await deadline.sleep(backoffMs(attempt));
          continue;
        }
        if (response.ok) return { response, deadline };
        const wait = retryAfterMs(response.headers.get("retry-after")) ?? backoffMs(attempt);
        if (!RETRY_STATUSES.has(response.status) || attempt >= retries || !deadline.allows(wait)) {
          throw await errorOf(response);
        }
        await response.body?.cancel().catch(() => undefined);
        await deadline.sleep(wait);
      }
    } catch (error) {
      deadline.release();
      throw deadline.explain(error);
    }
  }

  private url(call: Call): string {
    const url = new URL(this.baseURL + call.path);
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  private init(call: Call, options: RequestOptions, signal: AbortSignal): RequestInit {
    const headers: Record<string, string> = {
      accept: "application/json, text/event-stream",
      ...this.headers,
      ...options.headers,
      authorization: `Bearer ${this.apiKey}`,
    };
    let body: string | FormData | undefined = call.form;
    if (call.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(call.json);
    }
    return { method: call.method, headers, body, signal };
  }
}

/** Exponential, 0.5 s doubling to at most 8 s, with jitter so that clients spread out. */
export function backoffMs(attempt: number): number {
  const ceiling = Math.min(8_000, 500 * 2 ** attempt);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/**
 * A call's deadline and the caller's signal as one AbortSignal for fetch; tells a timeout from an
 * abort from a network failure when something fails.
 */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private end = Infinity;
  private timedOut = false;
  private readonly onAbort = (): void => this.controller.abort(this.caller?.reason);

  constructor(
    private readonly timeoutMs: number,
    private readonly caller?: AbortSignal,
  ) {
    if (caller?.aborted) this.controller.abort(caller.reason);
    else caller?.addEventListener("abort", this.onAbort, { once: true });
    this.renew();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Starts the timeout again: a stream calls it whenever bytes arrive. */
  renew(): void {
    if (!(this.timeoutMs > 0)) return;
    clearTimeout(this.timer);
    this.end = Date.now() + this.timeoutMs;
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new APITimeoutError(`no answer within ${this.timeoutMs} ms (timeoutMs)`));
    }, this.timeoutMs);
  }

  /** Whether a pause of `ms` ends before the deadline. */
  allows(ms: number): boolean {
    return Date.now() + ms < this.end;
  }

  /** Stops the timer and forgets the caller's signal (the call is over). */
  release(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener("abort", this.onAbort);
  }

  /** Ends the call now (a stream's consumer stopped reading). */
  abort(): void {
    this.controller.abort(new RequestAbortedError("the stream was closed by its consumer"));
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.signal.aborted) return reject(this.signal.reason);
      const done = (): void => {
        clearTimeout(timer);
        this.signal.removeEventListener("abort", stop);
        resolve();
      };
      const stop = (): void => {
        clearTimeout(timer);
        reject(this.signal.reason);
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener("abort", stop, { once: true });
    });
  }

  /** What went wrong, as a typed error. */
  explain(error: unknown): RagwrightError {
    if (error instanceof RagwrightError) return error;
    if (this.timedOut) return new APITimeoutError(`no answer within ${this.timeoutMs} ms (timeoutMs)`, { cause: error });
    if (this.caller?.aborted || this.signal.aborted) {
      return new RequestAbortedError("the request was aborted", { cause: this.caller?.reason ?? error });
    }
    const message = error instanceof Error ? error.message : String(error);
    const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
    const detail = cause?.code ?? cause?.message;
    return new APIConnectionError(`connection failed: ${message}${detail ? ` (${detail})` : ""}`, { cause: error });
  }
}

/** The body as JSON; a body that is not JSON is an InvalidResponseError, never a SyntaxError. */
export async function parseJSON(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidResponseError(response.status, text.slice(0, PREVIEW_CHARS), response.headers);
  }
}

/** The typed error of an error response: `{"error": {"type", "message"}}`, or InvalidResponseError. */
export async function errorOf(response: Response): Promise<APIError> {
  const text = await response.text().catch(() => "");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new InvalidResponseError(response.status, text.slice(0, PREVIEW_CHARS), response.headers);
  }
  const error = (body as { error?: { type?: unknown; message?: unknown } } | null)?.error;
  if (typeof error?.type !== "string" || typeof error.message !== "string") {
    return new InvalidResponseError(
      response.status,
      text.slice(0, PREVIEW_CHARS),
      response.headers,
      'JSON without {"error": {"type", "message"}}',
    );
  }
  return APIError.of(response.status, error.type, error.message, response.headers);
}
