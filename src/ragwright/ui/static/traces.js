// Traces: the list (GET /v1/traces) and one trace's spans on a timeline (GET /v1/traces/{id}):
// a bar per span, placed by its start offset and sized by its duration, indented under its parent.

import { api } from "./api.js";
import { errorBox, fmtMs, fmtNum, fmtTime, h, jsonBlock, table } from "./dom.js";

export async function render(main, [traceId], signal) {
  const body = h("div", { class: "loading" }, "Loading…");
  main.append(h("h1", {}, traceId ? "Trace" : "Traces"), body);
  try {
    if (traceId) showTrace(body, await api(`/v1/traces/${encodeURIComponent(traceId)}`, { signal }));
    else showList(body, (await api("/v1/traces?limit=200", { signal })).traces);
  } catch (err) {
    if (err.name !== "AbortError") body.replaceChildren(errorBox(err));
  }
  body.classList.remove("loading");
}

function summary(input) {
  const value = input && (input.question ?? input.query ?? input.dataset ?? input.model);
  return value === undefined ? "" : String(value);
}

function showList(body, traces) {
  if (!traces.length) return body.replaceChildren(h("p", { class: "muted" }, "No traces yet: ask a question first."));
  body.replaceChildren(table([
    { label: "Started", cell: (t) => fmtTime(t.started_at) },
    { label: "Name", cell: (t) => h("a", { href: `#traces/${encodeURIComponent(t.trace_id)}` }, t.name) },
    { label: "Input", cell: (t) => summary(t.input), class: "wide" },
    { label: "Duration", cell: (t) => fmtMs(t.duration_ms), class: "num" },
    { label: "Status", cell: (t) => h("span", { class: ["badge", t.status] }, t.status) },
    { label: "Tokens", cell: (t) => `${t.input_tokens || 0} / ${t.output_tokens || 0}`, class: "num" },
    { label: "Cost", cell: (t) => (t.cost_usd ? `$${t.cost_usd.toFixed(6)}` : ""), class: "num" },
  ], traces, (t) => ({ class: "trace-row", dataset: { traceId: t.trace_id } })));
}

function showTrace(body, trace) {
  body.replaceChildren(
    h("p", {}, h("a", { href: "#traces" }, "← All traces")),
    h("dl", { class: "meta" },
      ...pair("Trace", trace.trace_id), ...pair("Name", trace.name), ...pair("Started", fmtTime(trace.start)),
      ...pair("Duration", fmtMs(trace.duration_ms)), ...pair("Status", trace.error ? `${trace.status}: ${trace.error}` : trace.status),
      ...pair("Tokens in / out", `${trace.input_tokens || 0} / ${trace.output_tokens || 0}`),
      ...pair("Cost", `$${fmtNum(trace.cost_usd || 0, 6)}`)),
    h("h2", {}, "Timeline"),
    timeline(trace),
    h("details", {}, h("summary", {}, "Input"), jsonBlock(trace.input)),
    h("details", {}, h("summary", {}, "Output"), jsonBlock(trace.output)));
}

function pair(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

/** Spans in tree order (children after their parent, by start), with their depth. */
function spanTree(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent_id && ids.has(s.parent_id) ? s.parent_id : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  const out = [];
  const walk = (parent, depth) => {
    for (const s of (children.get(parent) || []).sort((a, b) => a.start - b.start)) {
      out.push({ span: s, depth });
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

function timeline(trace) {
  const spans = trace.spans || [];
  if (!spans.length) return h("p", { class: "muted" }, "This trace has no spans.");
  const end = Math.max(trace.duration_ms || 0, ...spans.map((s) => (s.start - trace.start) * 1000 + s.duration_ms));
  const total = end > 0 ? end : 1;
  const pct = (ms) => `${Math.min(100, Math.max(0, (ms / total) * 100))}%`;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    h("span", { class: "tick", style: { left: `${f * 100}%` } }, fmtMs(f * total)));
  const rows = spanTree(spans).map(({ span, depth }) => {
    const offset = Math.max(0, (span.start - trace.start) * 1000);
    const detail = h("div", { class: "span-detail", hidden: true },
      h("p", { class: "muted small" }, `starts at +${fmtMs(offset)}, lasts ${fmtMs(span.duration_ms)}`),
      span.error ? h("p", { class: "error" }, span.error) : null,
      jsonBlock(span.attributes));
    const row = h("div", { class: ["span-row", span.status], dataset: { spanId: span.span_id, name: span.name },
      role: "button", tabindex: 0, "aria-expanded": "false",
      onclick: () => toggle(row, detail), onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(row, detail); } } },
      h("span", { class: "span-name", style: { paddingLeft: `${depth * 16}px` } }, span.name),
      h("span", { class: "track" },
        h("span", { class: "bar", title: `${span.name}: ${fmtMs(span.duration_ms)} at +${fmtMs(offset)}`,
          style: { left: pct(offset), width: pct(span.duration_ms) } })),
      h("span", { class: "span-ms num" }, fmtMs(span.duration_ms)));
    return [row, detail];
  });
  return h("div", { class: "timeline" },
    h("div", { class: "span-row axis" }, h("span", { class: "span-name muted" }, "span"),
      h("span", { class: "track ticks" }, ticks), h("span", { class: "span-ms" }, "")),
    rows);
}

function toggle(row, detail) {
  detail.hidden = !detail.hidden;
  row.setAttribute("aria-expanded", String(!detail.hidden));
}
