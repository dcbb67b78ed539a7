"""Feedback as evaluation data, in BEIR layout, ready for `ragwright eval`:

- `corpus.jsonl`: every document of the tenant (its chunks' text in order), so retrieval is
  measured against the whole collection, not only the marked documents;
- `queries.jsonl` and `qrels/test.tsv`: the queries that received relevance marks; a relevant
  mark is grade 1, a not-relevant mark grade 0 (judged, not relevant); the latest mark wins;
- `qrels/answers.tsv` and `answers.jsonl`: answer cases from corrections (the correction is the
  reference answer; the documents the answer cited are its qrels), for
  `ragwright eval answers --split answers`;
- `dataset.json`: the tenant it was made from, whose evaluation runs made on it are (only that
  tenant's admins read them over HTTP).

One tenant at a time: its users' feedback, and the operator's (made without a key) as far as it
marks or cites the tenant's documents. Without a tenant, the store's only one is taken; a store
holding several tenants' documents or feedback is refused, so their questions and titles do not
end up in one dataset, nor in a run another tenant's admin reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

from ..errors import RagwrightError
from ..store.contract import DocumentStore, FeedbackStore

MANIFEST = "dataset.json"


class FeedbackSource(DocumentStore, FeedbackStore, Protocol):
    """What the export reads of the store: feedback, the tenant's documents and their chunks' text."""


def _qid(query: str) -> str:
    return "q" + hashlib.sha1(query.strip().lower().encode()).hexdigest()[:12]


def export_dataset(store: FeedbackSource, out: Path, tenant: str | None = None) -> dict[str, Any]:
    tenant = tenant or only_tenant(store)
    docs = store.list_documents({"tenant": tenant})
    own = {d.doc_id for d in docs}
    out = Path(out)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    queries: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = {}
    answers: dict[str, dict[str, Any]] = {}
    rows = [fb for fb in store.list_feedback() if fb["tenant"] in (tenant, None)]
    for fb in rows:  # the operator's feedback (tenant None) only as far as it is about this tenant's documents
        fb = {
            **fb,
            "marks": [m for m in fb["marks"] if m["doc_id"] in own],
            "cited": [d for d in fb["cited"] if d in own],
        }
        if not fb["query"] or (fb["tenant"] is None and not fb["marks"] and not fb["cited"]):
            continue
        qid = _qid(fb["query"])
        for mark in fb["marks"]:
            queries[qid] = fb["query"]
            judged.setdefault(qid, {})[mark["doc_id"]] = 1 if mark["relevant"] else 0
        if fb["correction"] and fb["cited"]:
            queries[qid] = fb["query"]
            answers[qid] = {"_id": qid, "reference": fb["correction"], "cited": fb["cited"]}
    _write_jsonl(
        out / "corpus.jsonl", ({"_id": d.doc_id, "title": d.title, "text": _text(store, d.doc_id)} for d in docs)
    )
    _write_jsonl(out / "queries.jsonl", ({"_id": q, "text": t} for q, t in sorted(queries.items())))
    _write_qrels(out / "qrels" / "test.tsv", {q: j for q, j in judged.items() if any(g > 0 for g in j.values())})
    _write_qrels(out / "qrels" / "answers.tsv", {q: {d: 1 for d in a["cited"]} for q, a in answers.items()})
    _write_jsonl(out / "answers.jsonl", ({"_id": q, "reference": a["reference"]} for q, a in sorted(answers.items())))
    (out / MANIFEST).write_text(json.dumps({"tenant": tenant, "made_from": "feedback"}) + "\n", encoding="utf-8")
    return {
        "tenant": tenant,
        "documents": len(docs),
        "queries": len(queries),
        "judged_queries": len(judged),
        "answer_cases": len(answers),
    }


def only_tenant(store: FeedbackSource) -> str:
    """The one tenant whose documents and feedback the store holds ("default" when empty)."""
    held = {d.tenant for d in store.list_documents()} | {fb["tenant"] for fb in store.list_feedback() if fb["tenant"]}
    if len(held) > 1:
        raise RagwrightError(
            f"the store holds the documents or feedback of {len(held)} tenants ({', '.join(sorted(held))}): "
            "a dataset is made from one tenant's, and its runs belong to that tenant; give --tenant"
        )
    return held.pop() if held else "default"


def dataset_tenant(data: Path) -> str | None:
    """The tenant a dataset was made from (its dataset.json), None for a dataset made elsewhere."""
    path = Path(data) / MANIFEST
    if not path.is_file():
        return None
    tenant = json.loads(path.read_text(encoding="utf-8")).get("tenant")
    return str(tenant) if tenant else None


def run_tenant(data: str | Path, tenant: str | None) -> str:
    """Whose evaluation run on `data` it is: a dataset made from a tenant's feedback holds that
    tenant's questions and titles, so its runs are that tenant's, and filing them under another
    is refused; any other dataset's runs are `tenant`'s, by default "default"."""
    made_from = dataset_tenant(Path(data))
    if made_from is not None and tenant not in (None, made_from):
        raise ValueError(
            f"{data} was made from tenant {made_from!r}'s feedback: its runs belong to that tenant, not {tenant!r}"
        )
    return made_from or tenant or "default"


def stale_documents(store: FeedbackSource, data: Path) -> list[str]:
    """The documents of a dataset made from feedback that its store no longer holds as exported:
    deleted since, or replaced by other text. Its corpus is a copy of the tenant's documents
    (corpus.jsonl), so evaluating it would put their old text back into an index and into runs
    that the deletion already cleared. A dataset made elsewhere has none."""
    tenant = dataset_tenant(Path(data))
    path = Path(data) / "corpus.jsonl"
    if tenant is None or not path.is_file():
        return []
    held = {d.doc_id for d in store.list_documents({"tenant": tenant})}
    stale = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                doc_id = str(row["_id"])
                if doc_id not in held or _text(store, doc_id) != (row.get("text") or ""):
                    stale.append(doc_id)
    return stale


def _text(store: FeedbackSource, doc_id: str) -> str:
    return "\n\n".join(store.chunk_texts(doc_id))


def _write_jsonl(path: Path, rows: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _write_qrels(path: Path, qrels: dict[str, dict[str, int]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in sorted(qrels):
            for d, g in sorted(qrels[q].items()):
                fh.write(f"{q}\t{d}\t{g}\n")
    os.replace(tmp, path)
