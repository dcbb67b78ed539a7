/**
 * What documents.upload() takes, turned into the multipart form POST /v1/documents reads: a
 * file path (Node, Deno, Bun), a File, or bytes (Buffer, Uint8Array, ArrayBuffer, Blob) or a stream
 * (a web ReadableStream, a Node Readable, any async iterable of bytes) with a file name.
 */
import { RagwrightError } from "./errors.js";

type Bytes = Uint8Array | ArrayBuffer | Blob;
type ByteStream = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/** A file to upload. The server takes the type from the name's extension (.md, .txt, .html, .pdf, .docx). */
export type Uploadable =
  /** A path on this machine (not in a browser). */
  | string
  /** A File (it has its name). */
  | File
  /** Bytes or a stream, and the name they are stored under. */
  | { name: string; data: Bytes | ByteStream };

export async function uploadForm(files: Uploadable[], groups: string[] | undefined): Promise<FormData> {
  if (files.length === 0) throw new RagwrightError("upload: no file given");
  const form = new FormData();
  for (const file of files) {
    const [name, blob] = await asBlob(file);
    form.append("file", blob, name);
  }
  if (groups?.length) form.append("groups", groups.join(","));
  return form;
}

async function asBlob(file: Uploadable): Promise<[string, Blob]> {
  if (typeof file === "string") return fromPath(file);
  // a File, by its shape: Node 18 has no global File, and a File of another realm fails instanceof
  if (file instanceof Blob && typeof (file as File).name === "string") return [(file as File).name, file];
  if (typeof file === "object" && file !== null && typeof file.name === "string" && "data" in file) {
    return [file.name, await blobOf(file.data)];
  }
  throw new RagwrightError("upload: give a path, a File, or { name, data } with bytes or a stream");
}

async function blobOf(data: Bytes | ByteStream): Promise<Blob> {
  if (data instanceof Blob) return data;
  if (data instanceof Uint8Array) return new Blob([data as Uint8Array<ArrayBuffer>]);
  if (data instanceof ArrayBuffer) return new Blob([data]);
  // fetch's FormData needs the whole part: a stream is read to its end (ingest.max_file_mb bounds a file)
  const parts: BlobPart[] = [];
  const source = isReadableStream(data) ? iterate(data) : data;
  for await (const part of source) parts.push(typeof part === "string" ? part : (part as Uint8Array<ArrayBuffer>));
  return new Blob(parts);
}

function isReadableStream(data: unknown): data is ReadableStream<Uint8Array> {
  return typeof (data as ReadableStream).getReader === "function";
}

async function* iterate(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** What is used of node:fs (typed here: the package has no dependency, not even on @types/node). */
interface NodeFs {
  openAsBlob?: (path: string) => Promise<Blob>;
  promises: { readFile: (path: string) => Promise<Uint8Array> };
}

/** A path as a Blob backed by the file (Node's fs.openAsBlob: not read into memory), named as the file. */
async function fromPath(path: string): Promise<[string, Blob]> {
  const name = path.split(/[\\/]/).pop() ?? path;
  const specifier = "node:fs"; // a variable: bundlers for the browser leave it alone
  let fs: NodeFs;
  try {
    fs = (await import(specifier)) as NodeFs;
  } catch {
    throw new RagwrightError("upload: a path needs node:fs (Node, Deno, Bun); in a browser, pass a File");
  }
  try {
    if (typeof fs.openAsBlob === "function") return [name, await fs.openAsBlob(path)];
    return [name, new Blob([(await fs.promises.readFile(path)) as Uint8Array<ArrayBuffer>])];
  } catch (error) {
    throw new RagwrightError(`upload: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}
