/**
 * Streamed answers as async iterables: `for await (const event of stream)`. Leaving the loop early
 * (break, return, a throw) or calling `abort()` closes the connection, and the server then stops
 * the model's stream. A stream that ends before its last event throws StreamInterruptedError.
 */
import { APIError, InvalidResponseError, RagwrightError, StreamInterruptedError } from "./errors.js";
import type { Deadline } from "./http.js";
import { serverSentEvents, type ServerSentEvent } from "./sse.js";
import type { Answer, AskEvent, ChatCompletionChunk } from "./types.js";

abstract class EventStream<T> implements AsyncIterable<T> {
  private started = false;

  constructor(
    protected readonly response: Response,
    protected readonly deadline: Deadline,
  ) {}

  /** Closes the connection now; a loop over the stream ends with RequestAbortedError. */
  abort(): void {
    this.deadline.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.started) throw new RagwrightError("a stream can be read once");
    this.started = true;
    let finished = false;
    try {
      for await (const sse of serverSentEvents(this.response, this.deadline)) {
        const event = this.read(sse);
        if (event === "done") {
          finished = true;
          return;
        }
        if (event === undefined) continue;
        yield event;
        if (this.isLast(event)) {
          finished = true;
          return;
        }
      }
    } catch (error) {
      throw error instanceof StreamInterruptedError ? this.interrupted(error.message, error) : error;
    }
    if (!finished) throw this.interrupted("the stream ended before its last event");
  }

  /** The typed event of an SSE event, "done" for an end marker, undefined for one to skip. */
  protected abstract read(sse: ServerSentEvent): T | "done" | undefined;
  protected abstract isLast(event: T): boolean;
  protected abstract get partialText(): string;

  private interrupted(message: string, cause?: unknown): StreamInterruptedError {
    return new StreamInterruptedError(message, this.partialText, { cause });
  }

  protected parse(sse: ServerSentEvent): unknown {
    try {
      return JSON.parse(sse.data);
    } catch {
      throw new InvalidResponseError(this.response.status, sse.data.slice(0, 200), this.response.headers);
    }
  }
}

/** POST /v1/ask with `"stream": true`: delta events, then an answer (or an error) event. */
export class AskStream extends EventStream<AskEvent> {
  /** The draft so far (the deltas joined). */
  text = "";

  protected read(sse: ServerSentEvent): AskEvent | undefined {
    const data = this.parse(sse) as Record<string, unknown>;
    switch (sse.event) {
      case "delta":
        this.text += String(data.text ?? "");
        return { type: "delta", text: String(data.text ?? "") };
      case "answer":
        return { type: "answer", answer: data as unknown as Answer };
      case "error":
        return { type: "error", error: { type: String(data.type), message: String(data.message) } };
      default:
        return undefined; // an event a newer server added
    }
  }

  protected isLast(event: AskEvent): boolean {
    return event.type !== "delta";
  }

  protected get partialText(): string {
    return this.text;
  }

  /** Reads the stream to its end: the checked answer; an error event is thrown as an APIError. */
  async finalAnswer(): Promise<Answer> {
    for await (const event of this) {
      if (event.type === "answer") return event.answer;
      if (event.type === "error") throw new APIError(200, event.error.type, event.error.message, this.response.headers);
    }
    throw new StreamInterruptedError("the stream ended without an answer", this.text);
  }
}

/** POST /v1/chat/completions with `"stream": true`: OpenAI's chunks, ended by `[DONE]`. */
export class ChatCompletionStream extends EventStream<ChatCompletionChunk> {
  /** The content so far. */
  text = "";

  protected read(sse: ServerSentEvent): ChatCompletionChunk | "done" {
    if (sse.data === "[DONE]") return "done";
    const data = this.parse(sse) as ChatCompletionChunk & { error?: { type: string; message: string } };
    if (data.error) {
      // the model failed mid-answer: the server sends an error object and no [DONE]
      throw new StreamInterruptedError(`${data.error.type}: ${data.error.message}`, this.text);
    }
    this.text += data.choices?.[0]?.delta?.content ?? "";
    return data;
  }

  protected isLast(): boolean {
    return false; // [DONE] ends it
  }

  protected get partialText(): string {
    return this.text;
  }
}
