// Feedback on one answer: thumbs up/down, an optional correction, and the relevance marks set on
// its sources, sent together to POST /v1/feedback (stored before the server replies).

import { api } from "./api.js";
import { h, svg } from "./dom.js";

const THUMB = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 " +
  "7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";

function thumbIcon(down) {
  return svg("svg", { viewBox: "0 0 24 24", width: 18, height: 18, "aria-hidden": "true" },
    svg("path", { d: THUMB, transform: down ? "rotate(180 12 12)" : null }));
}

/** `marks`: a Map chunk_id -> relevant (true/false) that the sources list fills in. */
export function feedbackBar(traceId, marks) {
  let rating = null;
  const status = h("span", { class: "status", role: "status" });
  const correction = h("textarea", { rows: 2, maxlength: 20000, placeholder: "What should the answer have said?" });
  const thumb = (value, label) => h("button", {
    type: "button", class: ["thumb", value], "aria-pressed": "false", "aria-label": label, title: label,
    onclick: (e) => {
      rating = rating === value ? null : value;
      for (const b of bar.querySelectorAll(".thumb")) b.setAttribute("aria-pressed", "false");
      e.currentTarget.setAttribute("aria-pressed", String(rating === value));
    },
  }, thumbIcon(value === "down"));
  const send = h("button", { type: "button", class: "primary", onclick: submit }, "Send feedback");
  const bar = h("div", { class: "feedback" },
    h("span", {}, "Was this answer helpful?"), thumb("up", "Thumbs up"), thumb("down", "Thumbs down"),
    h("details", {}, h("summary", {}, "Suggest a correction"), correction),
    send, status,
    h("a", { href: `#traces/${encodeURIComponent(traceId)}`, class: "trace-link" }, "View trace"));

  async function submit() {
    const body = { trace_id: traceId, marks: [...marks].map(([chunk_id, relevant]) => ({ chunk_id, relevant })) };
    if (rating) body.rating = rating;
    if (correction.value.trim()) body.correction = correction.value.trim();
    if (!rating && !body.marks.length && !body.correction) {
      status.className = "status error";
      status.textContent = "Choose thumbs up or down, mark a source, or write a correction first.";
      return;
    }
    send.disabled = true;
    try {
      const saved = await api("/v1/feedback", { method: "POST", json: body });
      status.className = "status ok";
      status.textContent = `Feedback saved (${saved.feedback_id}).`;
    } catch (err) {
      status.className = "status error";
      status.textContent = `Feedback not saved: ${err.message}`;
    } finally {
      send.disabled = false;
    }
  }

  return bar;
}
