"""The same corpus gives the same BM25 ranking and scores (within 1e-4) on both backends: 300
SciFact abstracts, 60 real queries, unfiltered and filtered, before and after deletions,
replacements and additions (which the PostgreSQL store's index takes in incrementally)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragwright.store.sqlite import SqliteStore
from tests.conftest import shared_data

from .backends import PostgresBackend, document

TOL = 1e-4
K = 20


def _abstracts(n: int) -> list[dict]:
    with (shared_data("scifact") / "corpus.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def _queries(n: int) -> list[str]:
    with (shared_data("scifact") / "queries.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(n), fh, strict=False)]


def _write(doc: dict, i: int, extra: str = ""):
    return document(
        f"sf{doc['_id']}",
        [doc["text"] + extra],
        title=doc["title"],
        metadata={"half": i % 2},
        vectors=np.eye(4, dtype=np.float32)[i % 4 : i % 4 + 1],
    )


def _assert_same(ours: list[tuple[str, float]], theirs: list[tuple[str, float]], query: str) -> None:
    """Equal scores position by position and chunk by chunk; chunks may differ only in a tie at the cut."""
    assert len(ours) == len(theirs), query
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, abs=TOL), query
    a, b = dict(ours), dict(theirs)
    for cid in a.keys() & b.keys():
        assert a[cid] == pytest.approx(b[cid], abs=TOL), (query, cid)
    for cid in a.keys() ^ b.keys():
        assert a.get(cid, b.get(cid)) == pytest.approx(ours[-1][1], abs=TOL), (query, cid, "differs off a tie")


@pytest.mark.slow
def test_bm25_is_the_same_on_both_backends(tmp_path, postgres_url):
    docs, queries = _abstracts(330), _queries(60)
    PostgresBackend.make_template(postgres_url)
    pg_backend = PostgresBackend(postgres_url)
    sqlite, pg = SqliteStore(tmp_path / "s.db"), pg_backend.open()
    try:

        def both(op, *args):
            for store in (sqlite, pg):
                getattr(store, op)(*args)

        def compare() -> None:
            for q in queries:
                for filters in (None, {"metadata.half": 1}):
                    _assert_same(pg.keyword_search(q, K, filters), sqlite.keyword_search(q, K, filters), q)

        for start in range(0, 300, 100):
            both("write_documents", [_write(d, i) for i, d in enumerate(docs[start : start + 100], start)])
        compare()
        for i in range(0, 300, 10):
            both("delete_document", f"sf{docs[i]['_id']}")
        compare()
        replaced = [_write(docs[i], i, " Replaced: calcium signalling in mice.") for i in range(5, 300, 15)]
        both("write_documents", replaced)
        compare()
        both("write_documents", [_write(d, i) for i, d in enumerate(docs[300:], 300)])
        compare()
        assert pg._search.rebuilds == 1 and pg._search.refreshes >= 3  # caught up, never rebuilt
    finally:
        sqlite.close()
        pg_backend.close()
