"""Feedback as evaluation data, in BEIR layout, ready for `ragwright eval`:

- `corpus.jsonl`: every document of the tenant (its chunks' text in order), so retrieval is
  measured against the whole collection, not only the marked documents;
- `queries.jsonl` and `qrels/test.tsv`: the queries that received relevance marks; a relevant
  mark is grade 1, a not-relevant mark grade 0 (judged, not relevant); the latest mark wins;
- `qrels/answers.tsv` and `answers.jsonl`: answer cases from corrections (the correction is the
  reference answer; the documents the answer cited are its qrels), for
  `ragwright eval answers --split answers`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Protocol

from ..store.contract import DocumentStore, FeedbackStore


class FeedbackSource(DocumentStore, FeedbackStore, Protocol):
    """What the export reads of the store: feedback, the tenant's documents and their chunks' text."""


def _qid(query: str) -> str:
    return "q" + hashlib.sha1(query.strip().lower().encode()).hexdigest()[:12]


def export_dataset(store: FeedbackSource, out: Path, tenant: str | None = None) -> dict[str, int]:
    out = Path(out)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    queries: dict[str, str] = {}
    judged: dict[str, dict[str, int]] = {}
    answers: dict[str, dict[str, Any]] = {}
    for fb in store.list_feedback(tenant):
        if not fb["query"]:
            continue
        qid = _qid(fb["query"])
        for mark in fb["marks"]:
            queries[qid] = fb["query"]
            judged.setdefault(qid, {})[mark["doc_id"]] = 1 if mark["relevant"] else 0
        if fb["correction"] and fb["cited"]:
            queries[qid] = fb["query"]
            answers[qid] = {"_id": qid, "reference": fb["correction"], "cited": fb["cited"]}
    docs = store.list_documents({"tenant": tenant} if tenant else None)
    _write_jsonl(
        out / "corpus.jsonl", ({"_id": d.doc_id, "title": d.title, "text": _text(store, d.doc_id)} for d in docs)
    )
    _write_jsonl(out / "queries.jsonl", ({"_id": q, "text": t} for q, t in sorted(queries.items())))
    _write_qrels(out / "qrels" / "test.tsv", {q: j for q, j in judged.items() if any(g > 0 for g in j.values())})
    _write_qrels(out / "qrels" / "answers.tsv", {q: {d: 1 for d in a["cited"]} for q, a in answers.items()})
    _write_jsonl(out / "answers.jsonl", ({"_id": q, "reference": a["reference"]} for q, a in sorted(answers.items())))
    return {
        "documents": len(docs),
        "queries": len(queries),
        "judged_queries": len(judged),
        "answer_cases": len(answers),
    }


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
