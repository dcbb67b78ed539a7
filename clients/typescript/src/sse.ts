/**
 * Server-Sent Events read from a fetch Response's body: `event:` and `data:` fields up to each
 * blank line. Each read renews the call's deadline, so a stream that goes quiet for longer than
 * `timeoutMs` ends with a typed error instead of hanging; a body that breaks off ends the same way.
 * Written here, not taken from a library (eventsource-parser and the like): the package has no
 * runtime dependency, and the part of the format this API uses (event, data) is 40 lines.
 */
import { RagwrightError, StreamInterruptedError } from "./errors.js";
import type { Deadline } from "./http.js";

export interface ServerSentEvent {
  /** The `event:` field; "message" when the event has none (the OpenAI chat stream's case). */
  event: string;
  data: string;
}

/** The events of `response`, until its body ends; failures are typed errors. */
export async function* serverSentEvents(response: Response, deadline: Deadline): AsyncGenerator<ServerSentEvent> {
  if (!response.body) throw new StreamInterruptedError("the streamed response has no body", "");
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let finished = false;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw interrupted(deadline.explain(error));
      }
      if (chunk.done) break;
      deadline.renew();
      buffer += decoder.decode(chunk.value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n") };
          event = "";
          data = [];
        } else if (line.startsWith("event:")) {
          event = field(line, 6);
        } else if (line.startsWith("data:")) {
          data.push(field(line, 5));
        } // comments (":") and other fields (id, retry) carry nothing this API uses
      }
    }
    finished = true;
  } finally {
    deadline.release();
    if (!finished) {
      deadline.abort(); // the consumer stopped early: close the connection, the server stops its work
      await reader.cancel().catch(() => undefined);
    }
  }
}

function field(line: string, start: number): string {
  return line.charCodeAt(start) === 32 ? line.slice(start + 1) : line.slice(start);
}

/** A timeout or a network failure mid-stream, as the stream's error; an abort stays an abort. */
function interrupted(error: RagwrightError): RagwrightError {
  if (error.name === "AbortError") return error;
  return new StreamInterruptedError(`the stream broke off: ${error.message}`, "", { cause: error });
}
