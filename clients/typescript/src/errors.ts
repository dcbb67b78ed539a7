/**
 * Errors. Every error the server sends is `{"error": {"type", "message"}}` with its HTTP status;
 * it becomes an `APIError` of the status's class (`AuthenticationError` for 401, ...) that keeps
 * the status, the server's `type` and `message`, and the response headers. Failures that have no
 * such body (the network, a timeout, an abort, a proxy's HTML page, a stream cut short) have
 * classes of their own, so that no call ever ends in a bare `TypeError` or `SyntaxError`.
 */

/** The base of every error this client throws. */
export class RagwrightError extends Error {
  override name = "RagwrightError";
}

/** The server answered with an error status. */
export class APIError extends RagwrightError {
  override name = "APIError";
  /** The HTTP status. */
  readonly status: number;
  /** The server's error type (`unauthorized`, `forbidden`, `too_large`, `invalid_request`, ...). */
  readonly type: string;
  readonly headers: Headers;

  constructor(status: number, type: string, message: string, headers: Headers = new Headers()) {
    super(message);
    this.status = status;
    this.type = type;
    this.headers = headers;
  }

  /** The error of the status's class; the body's shape has already been checked. */
  static of(status: number, type: string, message: string, headers: Headers): APIError {
    const Class = BY_STATUS[status] ?? (status >= 500 ? InternalServerError : APIError);
    return new Class(status, type, message, headers);
  }
}

export class BadRequestError extends APIError { override name = "BadRequestError"; }
/** A missing, unknown or revoked key. */
export class AuthenticationError extends APIError { override name = "AuthenticationError"; }
/** The key lacks the scope (read, write, admin) or the group the call needs. */
export class PermissionDeniedError extends APIError { override name = "PermissionDeniedError"; }
/** Absent, or not visible to this key: the server does not tell the two apart. */
export class NotFoundError extends APIError { override name = "NotFoundError"; }
/** A body over `server.max_body_mb`, or an uploaded file over `ingest.max_file_mb`. */
export class PayloadTooLargeError extends APIError { override name = "PayloadTooLargeError"; }
export class UnsupportedMediaTypeError extends APIError { override name = "UnsupportedMediaTypeError"; }
/** The request's fields failed validation (`k: 0`, an empty question, an unknown field...). */
export class UnprocessableEntityError extends APIError { override name = "UnprocessableEntityError"; }
/** The key's rate limit; `retryAfterMs` is what the server asked for (`Retry-After`). */
export class RateLimitError extends APIError {
  override name = "RateLimitError";
  get retryAfterMs(): number | null {
    return retryAfterMs(this.headers.get("retry-after"));
  }
}
export class InternalServerError extends APIError { override name = "InternalServerError"; }

const BY_STATUS: Record<number, typeof APIError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  422: UnprocessableEntityError,
  429: RateLimitError,
};

/**
 * The response was not what the API sends: not JSON (a proxy's HTML error page, say), or JSON of
 * another shape. Carries the status and the first bytes of the body.
 */
export class InvalidResponseError extends APIError {
  override name = "InvalidResponseError";
  readonly bodyPreview: string;

  constructor(status: number, bodyPreview: string, headers: Headers = new Headers(), why = "not JSON") {
    super(status, "invalid_response", `HTTP ${status}, and the body is ${why}: ${JSON.stringify(bodyPreview)}`, headers);
    this.bodyPreview = bodyPreview;
  }
}

/** No response: the connection was refused, reset, or the name did not resolve. */
export class APIConnectionError extends RagwrightError {
  override name = "APIConnectionError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The call's `timeoutMs` passed (retries included). */
export class APITimeoutError extends APIConnectionError {
  override name = "APITimeoutError";
}

/** The caller's `AbortSignal` fired. `name` is "AbortError", as fetch's own. */
export class RequestAbortedError extends RagwrightError {
  override name = "AbortError";
}

/** A streamed response ended before its last event (the connection broke off mid-answer). */
export class StreamInterruptedError extends RagwrightError {
  override name = "StreamInterruptedError";
  /** The draft text received before the stream broke off. */
  readonly partialText: string;

  constructor(message: string, partialText: string, options?: { cause?: unknown }) {
    super(message, options);
    this.partialText = partialText;
  }
}

/** waitForJob: the ingestion job did not finish within its `timeoutMs`. */
export class JobTimeoutError extends RagwrightError {
  override name = "JobTimeoutError";
}

/** Milliseconds from a Retry-After header: delay-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
