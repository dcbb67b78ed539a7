"""What pruning the term vocabulary adds to a deletion (store/sqlite.py `_prune_vocab`).

    python bench/deletion.py                 # SciFact, about 1 min
    python bench/deletion.py --limit 1000    # a smoke run

SciFact's abstracts are written to a store (one chunk each, no embedding: BM25 only), then
documents are deleted one by one, three ways, in one run:

  warm     the in-memory BM25 index is current before each deletion (a serving store: a search
           came between), so its document frequencies say which terms died
  cold     no search between deletions: every remaining chunk's term ids are read
  former   the deletion without pruning (the vocabulary kept every deleted word)

A human table goes to stderr; one JSON object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import add_data_arg, emit, environment, load_jsonl, percentiles_ms, say, scifact_paths, table
from tenant_scoping import build

from ragwright.store.sqlite import SqliteStore


def deletions(store: SqliteStore, doc_ids: list[str], mode: str) -> list[float]:
    times = []
    for doc_id in doc_ids:
        if mode == "warm":
            store.warm()  # what the next search would do anyway
        start = time.perf_counter()
        store.delete_document(doc_id)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(parser)
    parser.add_argument("--limit", type=int, default=None, help="documents of SciFact to use")
    parser.add_argument("--deletions", type=int, default=30, help="deletions per way")
    args = parser.parse_args()
    corpus = load_jsonl(scifact_paths(Path(args.data))[0], args.limit)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n, mode in enumerate(("warm", "cold", "former")):
            store = build(corpus, 1, Path(tmp) / mode)
            if mode == "former":
                store._prune_vocab = lambda *a, **k: None  # type: ignore[method-assign]  # the deletion before pruning
            doc_ids = [row["_id"] for row in corpus[n * args.deletions : (n + 1) * args.deletions]]
            results[mode] = percentiles_ms(deletions(store, doc_ids, mode))
            terms = store._conn.execute("SELECT count(*) FROM terms").fetchone()[0]
            results[mode]["terms_left"] = terms
            store.close()
    say(
        table(
            [[m, r["p50"], r["p95"], r["terms_left"]] for m, r in results.items()],
            ["deletion", "p50 ms", "p95 ms", "vocabulary left"],
        )
    )
    emit({"bench": "deletion", "documents": len(corpus), "results": results, "environment": environment()})


if __name__ == "__main__":
    sys.exit(main())
