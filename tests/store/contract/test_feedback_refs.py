"""Deleting a document takes its id out of every feedback's marks and citations, whatever the id
is made of. Review 16 (finding F, f_feedback_marks_nonascii.py): SQLite looked for '%"<id>"%' in
the marks, which json.dumps had written ASCII-escaped ("r\\u00e9sum\\u00e9-ana"), so a non-ASCII
id stayed; PostgreSQL's LIKE reads a backslash as its escape, so an id with a quote or a
backslash stayed there. The feedback's own words (query, correction) stay."""

from __future__ import annotations

import pytest

from .backends import document

IDS = [
    "résumé-ana",
    "日本語-doc",
    "emoji-😀",
    'quo"te',
    "back\\slash",
    'both\\"',
    "50%_off",
    "excl!am_!%",
    "a_c",
    "abc",
    "plain",
]


def _feedback(store, feedback_id: str, doc_ids: list[str]) -> None:
    store.save_feedback(
        feedback_id, "t1", key_id="k1", tenant="acme", query="who is ana?", rating=1.0, rating_scale="updown",
        correction="ask HR", marks=[{"doc_id": d, "chunk_id": f"{d}#0", "relevant": True} for d in doc_ids],
        cited=doc_ids,
    )  # fmt: skip


def _named(store) -> dict[str, set[str]]:
    return {f["feedback_id"]: {m["doc_id"] for m in f["marks"]} | set(f["cited"]) for f in store.list_feedback("acme")}


@pytest.mark.parametrize("doc_id", IDS)
def test_a_deleted_documents_id_leaves_every_feedback_whatever_its_characters(backend, doc_id):
    a, b = backend.open(), backend.open()
    a.write_documents([document(d, [f"Text of {d}."]) for d in IDS])
    _feedback(a, "f-all", IDS)
    _feedback(a, "f-one", [doc_id])
    assert b.delete_document(doc_id) is True
    others = set(IDS) - {doc_id}
    for store in (a, b):
        assert _named(store) == {"f-all": others, "f-one": set()}, f"{doc_id!r} is still named"
        assert {(f["query"], f["correction"]) for f in store.list_feedback("acme")} == {("who is ana?", "ask HR")}
