"""Round trips per `Workspace.search` on PostgreSQL (issue 18), and its p50.

    python bench/pg_roundtrips.py --url postgresql://postgres@127.0.0.1:PORT/postgres [--docs 1500]

A fresh database (tests/stores.py's template) takes --docs synthetic documents of 2 chunks through
`store.write_documents` (random unit vectors, the workspace's embedder recorded), then
`Workspace.search(q, k=10)` runs --queries times over 20 distinct questions (embeddings cached after
the first round, so the store's share shows). Counted: transactions the store opened
(Database._transaction) and statements executed, per search, traces flushed included."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.store.contract.backends import document
from tests.stores import fresh_database

from ragwright import Settings, Workspace
from ragwright.config import StoreSettings
from ragwright.models.embedding import LocalMiniLM
from ragwright.store.postgres.connection import Database

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "kinase",
    "protein",
    "receptor",
    "vaccine",
    "trial",
    "cohort",
    "dose",
    "gene",
    "cell",
    "lung",
    "heart",
]


class Counter:
    def __init__(self) -> None:
        self.transactions = self.statements = 0

    def install(self) -> None:
        import psycopg

        original_tx, original_exec = Database._transaction, psycopg.Cursor.execute
        counter = self

        def transaction(db, doing, transaction=True):  # type: ignore[no-untyped-def]
            counter.transactions += 1
            return original_tx(db, doing, transaction)

        def execute(cur, *a, **kw):  # type: ignore[no-untyped-def]
            counter.statements += 1
            return original_exec(cur, *a, **kw)

        Database._transaction = transaction  # type: ignore[method-assign]
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    embedder = LocalMiniLM()
    embedder.warm_up()
    counter = Counter()
    counter.install()
    with fresh_database(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(settings=Settings(data_dir=Path(tmp), store=StoreSettings(url=url)), embedder=embedder)
        try:
            ws.store.set_meta("embedder", embedder.name)
            for lo in range(0, args.docs, 250):
                batch = []
                for i in range(lo, min(lo + 250, args.docs)):
                    texts = [" ".join(rng.choice(WORDS, 12)) + f" note {i}." for _ in range(2)]
                    vecs = rng.standard_normal((2, 384)).astype(np.float32)
                    batch.append(document(f"d{i}", texts, vectors=vecs / np.linalg.norm(vecs, axis=1, keepdims=True)))
                ws.store.write_documents(batch)
            questions = [f"{WORDS[i % 15]} {WORDS[(i * 7) % 15]} in note {i}" for i in range(20)]
            for q in questions:  # warm: embeddings, keyword index, calibration
                ws.search(q, k=10)
            ws.store.flush_traces()
            t0, s0, lat = counter.transactions, counter.statements, []
            for n in range(args.queries):
                started = time.perf_counter()
                ws.search(questions[n % len(questions)], k=10)
                lat.append((time.perf_counter() - started) * 1000)
            ws.store.flush_traces()
            tx, st = counter.transactions - t0, counter.statements - s0
        finally:
            ws.close()
    print(
        f"docs {args.docs}, searches {args.queries}: {tx / args.queries:.2f} transactions and "
        f"{st / args.queries:.2f} statements per search; p50 {statistics.median(lat):.2f} ms, "
        f"p90 {np.percentile(lat, 90):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
