// Ask: the answer streams in over Server-Sent Events (POST /v1/ask with "stream": true: `delta`
// events with the model's draft, then one `answer` event with the checked answer and its
// citations, which replaces the draft). Citations [n] open the cited passage.
// Questions form a conversation: each ask sends the earlier turns as `history`, the server makes
// a follow-up standalone before searching, and the question it searched for is shown when it
// differs from the one typed. "New conversation" forgets the earlier turns.

import { stream } from "./api.js";
import { clear, errorBox, h } from "./dom.js";
import { feedbackBar } from "./feedback.js";

const MAX_TURNS = 20; // the server takes at most 50
const MAX_TURN_CHARS = 4000; // of an answer sent back as history: its subject is early

export function render(main, _params, signal) {
  const history = []; // [{role, content}], oldest first
  const question = h("textarea", {
    id: "question", rows: 2, maxlength: 20000, required: true,
    placeholder: "Ask a question about your documents",
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } },
  });
  const button = h("button", { type: "submit", class: "primary" }, "Ask");
  const restart = h("button", { type: "button", class: "link", id: "new-conversation", hidden: true,
    onclick: () => { history.length = 0; restart.hidden = true; clear(out); question.focus(); } }, "New conversation");
  const out = h("div", { class: "answer-area" });
  const form = h("form", { class: "ask-form", onsubmit: onSubmit },
    h("label", { for: "question", class: "sr-only" }, "Question"), question, button);
  main.append(h("h1", {}, "Ask"), form, restart, out);
  question.focus();

  async function onSubmit(event) {
    event.preventDefault();
    const text = question.value.trim();
    if (!text) return;
    button.disabled = true;
    try {
      const answer = await ask(text, history.slice(-MAX_TURNS), out, signal);
      if (answer !== null) {
        history.push({ role: "user", content: text }, { role: "assistant", content: answer.slice(0, MAX_TURN_CHARS) });
        restart.hidden = false;
        question.value = "";
      }
    } finally {
      button.disabled = false;
    }
  }
}

/** Asks with the conversation so far; the answer's text, or null when it failed. */
async function ask(question, history, out, signal) {
  const answer = h("div", { class: "answer", id: "answer", "aria-live": "polite", dataset: { state: "streaming" } });
  const passage = h("aside", { class: "passage card", id: "passage", hidden: true, "aria-label": "Cited passage" });
  const details = h("div", { class: "answer-details" });
  const asked = h("p", { class: "muted asked" }, question);
  const earlier = history.filter((t) => t.role === "user").map((t) => h("li", {}, t.content));
  clear(out).append(
    earlier.length ? h("ol", { class: "muted earlier", "aria-label": "Earlier questions" }, earlier) : null,
    h("div", { class: "card answer-card" }, asked, answer, details), passage);
  let text = "";
  try {
    for await (const { event, data } of stream("/v1/ask", { question, history, stream: true }, { signal })) {
      if (event === "delta") {
        text += data.text;
        showText(answer, text, [], null);
      } else if (event === "answer") {
        if (data.question && data.question !== question) {
          asked.after(h("p", { class: "muted rewritten", id: "rewritten" }, "Searched for: ", h("q", {}, data.question)));
        }
        finish(answer, details, passage, data);
        return data.answer;
      } else if (event === "error") {
        throw new Error(data.message || "the answer failed");
      }
    }
  } catch (err) {
    if (err.name === "AbortError") return null;
    answer.dataset.state = "error";
    details.append(errorBox(err));
  }
  return null;
}

function finish(answer, details, passage, data) {
  const open = (n) => openPassage(passage, data.citations.find((c) => c.n === n), details);
  showText(answer, data.answer, data.citations, open);
  answer.dataset.state = "done";
  answer.dataset.traceId = data.trace_id || "";
  if (data.abstained) {
    details.append(h("p", { class: "note" }, "Not enough evidence to answer", data.reason ? `: ${data.reason}` : "."));
  }
  const marks = new Map(); // chunk_id -> true | false
  if (data.citations.length) {
    details.append(h("h2", {}, "Sources"),
      h("ol", { class: "sources" }, data.citations.map((c) => sourceItem(c, open, marks))));
  }
  if (data.trace_id) details.append(feedbackBar(data.trace_id, marks));
}

const CITE = /\[(\d+(?:\s*,\s*\d+)*)\]/g;

/** The answer's text with each [n] (or [n, m]) as a button when the citation exists. */
function showText(el, text, citations, open) {
  clear(el);
  let last = 0;
  for (const match of text.matchAll(CITE)) {
    el.append(text.slice(last, match.index));
    const numbers = match[1].split(",").map((s) => Number(s.trim()));
    if (open && numbers.every((n) => citations.some((c) => c.n === n))) {
      for (const n of numbers) {
        const c = citations.find((x) => x.n === n);
        el.append(h("button", { type: "button", class: "cite", dataset: { n }, title: c.location || c.source,
          "aria-label": `Citation ${n}: ${c.source}`, onclick: () => open(n) }, `[${n}]`));
      }
    } else {
      el.append(match[0]);
    }
    last = match.index + match[0].length;
  }
  el.append(text.slice(last));
}

function where(c) {
  const loc = c.location || "";
  const rest = loc.startsWith(c.source) ? loc.slice(c.source.length).trim() : loc;
  return rest.replace(/^\((.*)\)$/, "$1");
}

function openPassage(panel, c, details) {
  if (!c) return;
  for (const item of details.querySelectorAll(".sources li")) item.classList.toggle("active", item.dataset.n === String(c.n));
  clear(panel).append(
    h("div", { class: "passage-head" },
      h("h2", {}, `[${c.n}] `, h("span", { class: "source" }, c.source)),
      h("button", { type: "button", class: "link", "aria-label": "Close passage", onclick: () => { panel.hidden = true; } },
        "Close")),
    where(c) ? h("p", { class: "muted location" }, where(c)) : null,
    h("blockquote", { class: "passage-text" }, c.text),
    h("p", { class: "muted small" }, `score ${Number(c.score).toFixed(3)} · chunk ${c.chunk_id}`));
  panel.hidden = false;
  panel.dataset.n = c.n;
}

function sourceItem(c, open, marks) {
  const toggle = (value, label) => {
    const b = h("button", { type: "button", class: ["mark", value ? "yes" : "no"], "aria-pressed": "false",
      onclick: () => {
        const on = marks.get(c.chunk_id) !== value;
        if (on) marks.set(c.chunk_id, value); else marks.delete(c.chunk_id);
        for (const other of b.parentNode.querySelectorAll(".mark")) other.setAttribute("aria-pressed", "false");
        b.setAttribute("aria-pressed", String(on));
      } }, label);
    return b;
  };
  return h("li", { dataset: { n: c.n, chunk: c.chunk_id } },
    h("button", { type: "button", class: "cite", onclick: () => open(c.n) }, `[${c.n}]`),
    h("span", { class: "source" }, c.source),
    where(c) ? h("span", { class: "muted" }, ` — ${where(c)}`) : null,
    h("span", { class: "marks", role: "group", "aria-label": `Is [${c.n}] relevant?` },
      toggle(true, "Relevant"), toggle(false, "Not relevant")));
}
