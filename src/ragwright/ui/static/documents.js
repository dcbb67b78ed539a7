// Documents: the list (GET /v1/documents), upload (multipart POST /v1/documents, then poll
// GET /v1/jobs/{id} for the ingestion's progress) and delete (DELETE /v1/documents/{id}).

import { ApiError, api, sleep } from "./api.js";
import { errorBox, fmtBytes, fmtTime, h, table } from "./dom.js";

export function render(main, _params, signal) {
  const list = h("div", { id: "document-list", class: "loading" }, "Loading…");
  const jobs = h("div", { class: "jobs" });
  const refresh = () => load(list, signal);
  main.append(h("h1", {}, "Documents"), uploadForm(jobs, refresh, signal), jobs, list);
  refresh();
}

const PAGE = 200;

/** The first page of documents, and a "Show more" button while the server says there are more. */
async function load(list, signal) {
  const shown = [];
  const more = async (offset) => {
    try {
      const page = await api(`/v1/documents?limit=${PAGE}&offset=${offset}`, { signal });
      shown.push(...page.documents);
      list.classList.remove("loading");
      if (!shown.length) return list.replaceChildren(h("p", { class: "muted" }, "No documents yet."));
      const rest = page.next_offset === null ? [] : [h("p", { class: "muted" }, `${shown.length} of ${page.total} shown `,
        h("button", { type: "button", id: "documents-more", onclick: () => more(page.next_offset) }, "Show more"))];
      list.replaceChildren(docTable(shown, () => load(list, signal)), ...rest);
    } catch (err) {
      if (err.name === "AbortError") return;
      list.classList.remove("loading");
      list.replaceChildren(errorBox(err));
    }
  };
  await more(0);
}

function docTable(documents, reload) {
  return table([
    { label: "Title", cell: (d) => d.title || d.source, class: "wide" },
    { label: "Source", cell: (d) => d.source },
    { label: "Format", cell: (d) => d.format },
    { label: "Chunks", cell: (d) => String(d.n_chunks), class: "num" },
    { label: "Size", cell: (d) => fmtBytes(d.size), class: "num" },
    { label: "Groups", cell: (d) => (d.groups || []).join(", ") },
    { label: "Updated", cell: (d) => fmtTime(d.updated_at) },
    { label: "", cell: (d) => deleteButton(d, reload) },
  ], documents, (d) => ({ class: "doc-row", dataset: { docId: d.doc_id, source: d.source } }));
}

/** Two clicks: "Delete", then "Delete for good" (the document and everything derived from it go). */
function deleteButton(doc, reload) {
  const button = h("button", { type: "button", class: "danger", "aria-label": `Delete ${doc.source}`,
    onclick: async () => {
      if (button.dataset.armed !== "yes") {
        button.dataset.armed = "yes";
        button.textContent = "Delete for good?";
        return;
      }
      button.disabled = true;
      try {
        await api(`/v1/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" });
        reload();
      } catch (err) {
        button.replaceWith(errorBox(err));
      }
    } }, "Delete");
  return button;
}

function uploadForm(jobs, refresh, signal) {
  const files = h("input", { type: "file", id: "upload-file", name: "file", multiple: true, required: true });
  const groups = h("input", { type: "text", id: "upload-groups", name: "groups", placeholder: "hr, finance",
    autocomplete: "off" });
  const form = h("form", { class: "card upload", id: "upload-form",
    onsubmit: (e) => {
      e.preventDefault();
      if (!files.files.length) return;
      const data = new FormData();
      for (const f of files.files) data.append("file", f, f.name);
      if (groups.value.trim()) data.append("groups", groups.value.trim());
      jobs.prepend(upload(data, [...files.files].map((f) => f.name), refresh, signal));
      form.reset();
    } },
  h("h2", {}, "Upload"),
  h("div", { class: "row" },
    h("label", { for: "upload-file" }, "Files"), files,
    h("label", { for: "upload-groups" }, "Groups (optional)"), groups,
    h("button", { type: "submit", class: "primary" }, "Upload")));
  return form;
}

/** A card that follows one upload: sending, then the ingestion job until done or failed. */
function upload(data, names, refresh, signal) {
  const status = h("span", { class: "job-status" }, "Uploading…");
  const bar = h("progress", { max: 1, value: 0 });
  const card = h("div", { class: "card job", dataset: { state: "uploading" } },
    h("strong", {}, names.join(", ")), " ", bar, " ", status);
  follow();
  return card;

  async function follow() {
    try {
      const accepted = await api("/v1/documents", { method: "POST", form: data, signal });
      card.dataset.jobId = accepted.job_id;
      for (let polls = 0; ; polls++) {
        let job;
        try {
          job = await api(`/v1/jobs/${encodeURIComponent(accepted.job_id)}`, { signal });
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 429) throw err;
          await sleep(1000 * Math.max(1, err.retryAfter), signal); // the key's rate limit: wait as told
          if (signal.aborted) return;
          continue;
        }
        bar.max = job.total || 1;
        bar.value = job.done || 0;
        status.textContent = `${job.status}: ${job.done || 0} of ${job.total || names.length} file(s)`;
        card.dataset.state = job.status;
        if (job.status === "done" || job.status === "failed") return finish(job);
        await sleep(Math.min(2000, 250 + 100 * polls), signal); // quick at first, then gently
        if (signal.aborted) return;
      }
    } catch (err) {
      if (err.name === "AbortError") return;
      card.dataset.state = "error";
      bar.remove();
      status.replaceWith(errorBox(err));
    }
  }

  function finish(job) {
    const r = job.result || {};
    status.textContent = job.status === "done"
      ? `done: ${count(r.ingested)} ingested, ${count(r.unchanged)} unchanged, ${count(r.failed)} failed`
      : `failed${job.error ? `: ${job.error}` : ""}`;
    for (const f of r.failed || []) card.append(h("p", { class: "error" }, `${String(f.path).split("/").pop()}: ${f.error}`));
    refresh();
  }
}

const count = (v) => (Array.isArray(v) ? v.length : v || 0);
