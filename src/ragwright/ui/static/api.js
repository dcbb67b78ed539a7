// Every data call goes through the /v1 API with the user's key as `Authorization: Bearer`.
// The key lives in sessionStorage (this tab), or in localStorage when the user asks to be remembered.

const KEY = "ragwright.key";

export function getKey() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
}

export function setKey(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, type, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter; // seconds, on 429
  }
}

/** Raised on 401: main.js forgets the key and asks for one again. */
export const UNAUTHORIZED = "ragwright:unauthorized";

async function failure(res) {
  let type = "http_error";
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) ({ type, message } = body.error);
  } catch { /* not JSON: keep the status line */ }
  const err = new ApiError(res.status, type, message, Number(res.headers.get("retry-after")) || 0);
  if (res.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: err }));
  return err;
}

async function send(path, { method = "GET", json, form, signal, key } = {}) {
  const headers = { Authorization: `Bearer ${key ?? getKey()}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form; // the browser sets the multipart boundary
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", `cannot reach the server (${err.message})`);
  }
  if (!res.ok) throw await failure(res);
  return res;
}

/** A JSON API call; throws ApiError with the server's {"error": {type, message}}. */
export async function api(path, options) {
  const res = await send(path, options);
  return res.status === 204 ? null : res.json();
}

/** POST a JSON body and read Server-Sent Events: yields {event, data} with data parsed as JSON. */
export async function* stream(path, json, { signal } = {}) {
  const res = await send(path, { method: "POST", json, signal });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done }).replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
    }
    if (done) break;
  }
  const last = parseEvent(buffer);
  if (last) yield last;
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}

export const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});
