"""What scoping BM25 statistics to the reader's chunks costs, with 1, 10 and 100 tenants.

    python bench/tenant_scoping.py                  # SciFact, about 1 min
    python bench/tenant_scoping.py --limit 1000     # a smoke run

A filtered keyword search used to score with statistics (chunk count, document frequencies,
average length) of every tenant's chunks, then drop the chunks the reader may not see: a score
then told whether a word occurs in text the reader cannot read. It now recomputes them over the
allowed chunks alone (store/bm25.py). Both are run here on the same index, side by side:

  scoped   index.search(terms, 100, allowed): today's code
  global   the former way, rebuilt from the same index's arrays: global weights, then a mask

SciFact's abstracts are spread round-robin over N tenants; each query searches as tenant 0
(so a tenant holds 1/N of the chunks). Vectors are not needed (BM25 only); term ids come from
the store's own analyzer and vocabulary. Index memory is the arrays' bytes: it does not depend
on the number of tenants (one index; statistics are computed per query). A human table goes to
stderr; one JSON object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from _common import add_data_arg, emit, environment, load_jsonl, percentiles_ms, say, scifact_paths, table

from ragwright.store.base import DocumentWrite, text_hash
from ragwright.store.bm25 import SparseBM25
from ragwright.store.sqlite import SqliteStore
from ragwright.types import Access, Chunk, DocumentRecord


def build(corpus: list[dict], tenants: int, folder: Path) -> SqliteStore:
    store = SqliteStore(folder / f"t{tenants}.db")
    writes = []
    for n, row in enumerate(corpus):
        text = f"{row['title']}\n{row['text']}"
        doc = DocumentRecord(
            row["_id"], f"/scifact/{row['_id']}", row["title"], "txt", text_hash(text), 1, tenant=f"t{n % tenants}"
        )
        writes.append(
            DocumentWrite(doc, [Chunk(f"{row['_id']}#0", row["_id"], 0, row["text"])], np.zeros((1, 4), np.float32))
        )
    for start in range(0, len(writes), 1000):
        store.write_documents(writes[start : start + 1000])
    store.warm()
    return store


def global_search(index: SparseBM25, term_ids: list[int], k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
    """The former filtered search: statistics of every chunk, the others' scores zeroed."""
    spans = [(index.indptr[t], index.indptr[t + 1]) for t in term_ids if 0 <= t < len(index.indptr) - 1]
    rows = np.concatenate([index.rows[lo:hi] for lo, hi in spans]) if spans else np.zeros(0, np.int32)
    weights = np.concatenate([index.weights[lo:hi] for lo, hi in spans]) if spans else np.zeros(0, np.float32)
    scores = np.bincount(rows, weights=weights, minlength=len(index.ids))
    scores[~index._subsets.of(allowed)[1]] = 0.0
    hits = np.flatnonzero(scores > 0)
    hits = hits[np.argsort(-scores[hits], kind="stable")][:k]
    return [(int(index.ids[i]), float(scores[i])) for i in hits]


def measure(store: SqliteStore, queries: list[str], rounds: int) -> dict[str, dict[str, float]]:
    generation = store._generation()
    index = store._derived("bm25", store._build_sparse, generation)
    vocab = store._current_vocab(generation)
    allowed = store._allowed({"access": Access("t0")}, generation)
    terms = [[vocab[t] for t in store.analyzer.terms(q) if t in vocab] for q in queries]
    times: dict[str, list[float]] = {"scoped": [], "global": []}
    for _ in range(rounds):
        for ids in terms:
            for name, run in (
                ("scoped", partial(index.search, ids, 100, allowed)),
                ("global", partial(global_search, index, ids, 100, allowed)),
            ):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    memory = {
        "rows": index.rows.nbytes,
        "weights": index.weights.nbytes,
        "tf": index.tf.nbytes,
        "lengths": index.lengths.nbytes,
        "indptr": index.indptr.nbytes,
    }
    return {
        "scoped": percentiles_ms(times["scoped"]),
        "global": percentiles_ms(times["global"]),
        "allowed_chunks": {"n": float(len(allowed))},
        "memory_mib": {
            "total": sum(memory.values()) / 2**20,
            "added_by_scoping": (memory["tf"] + memory["lengths"]) / 2**20,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(parser)
    parser.add_argument("--limit", type=int, default=None, help="documents of SciFact to use")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpus_path, queries_path = scifact_paths(Path(args.data))
    corpus = load_jsonl(corpus_path, args.limit)
    queries = [q["text"] for q in load_jsonl(queries_path)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tenants in (1, 10, 100):
            store = build(corpus, tenants, Path(tmp))
            results[str(tenants)] = measure(store, queries, args.rounds)
            store.close()
    rows = [
        [
            n,
            r["allowed_chunks"]["n"],
            r["scoped"]["p50"],
            r["global"]["p50"],
            r["scoped"]["p50"] / max(r["global"]["p50"], 1e-9),
            r["scoped"]["p99"],
            r["global"]["p99"],
            r["memory_mib"]["total"],
            r["memory_mib"]["added_by_scoping"],
        ]
        for n, r in results.items()
    ]
    say(
        table(
            rows,
            [
                "tenants",
                "reader's chunks",
                "scoped p50 ms",
                "global p50 ms",
                "ratio",
                "scoped p99",
                "global p99",
                "index MiB",
                "of which added",
            ],
        )
    )
    emit(
        {
            "bench": "tenant_scoping",
            "documents": len(corpus),
            "queries": len(queries),
            "results": results,
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    sys.exit(main())
