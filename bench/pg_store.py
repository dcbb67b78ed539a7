"""SQLite store against PostgreSQL store, side by side in one run, at the store's own level (no
embedding model: vectors are synthetic, clustered around 200 centres in 384 dimensions):

- writes: chunks/s of `write_documents` (batches of 1,000 documents), both stores fed the same data;
- BM25: `keyword_search(q, 100)` on SQLite (SparseBM25 rebuilt when stale), on PostgreSQL (the
  in-process LiveBM25 caught up by generation) and, as the alternative design, BM25 as SQL over a
  postings table (term, chunk, tf; df from terms.df, N and avgdl passed in: its best case); the
  score agreement of the two stores' top 10; the cost of a catch-up after a small write against a
  full read of the index;
- dense: `vector_search(v, 100)` on both; pgvector exact and HNSW, recall@10 of each against numpy;
- store-level hybrid: keyword(100) + vector(100) back to back.

The corpus: SciFact abstracts (one chunk each), then synthetic documents made of SciFact sentences
up to each size. PostgreSQL: --url, or a throwaway cluster started with tests/pg.py.

    python bench/pg_store.py --sizes 5000,100000      # about 10 min on 2 busy cores
    python bench/pg_store.py --sizes 2000 --queries 50  # smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.pg, for a throwaway cluster

from _common import (
    MachineLoad,
    add_data_arg,
    emit,
    environment,
    load_jsonl,
    percentiles_ms,
    say,
    say_machine_load,
    scifact_paths,
    table,
)

from ragwright.ingest import split_sentences
from ragwright.store.base import DocumentWrite
from ragwright.store.bm25 import decode_counts
from ragwright.store.postgres import PostgresStore
from ragwright.store.sqlite import SqliteStore
from ragwright.types import Chunk, DocumentRecord

DIM = 384
BATCH = 1000
SQL_BM25 = """
SELECT p.chunk_rowid, sum(q.n * ln(1 + (%(n)s - t.df + 0.5) / (t.df + 0.5)) * p.tf * %(k1p1)s
       / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * l.len / %(avgdl)s))) AS score
FROM unnest(%(ids)s::int[], %(qn)s::int[]) AS q(term_id, n)
JOIN terms t ON t.id = q.term_id
JOIN postings p ON p.term_id = q.term_id
JOIN chunk_len l ON l.rowid = p.chunk_rowid
GROUP BY p.chunk_rowid ORDER BY score DESC LIMIT 100"""


class Corpus:
    """Documents for both stores: real abstracts first, then recombined sentences; clustered vectors."""

    def __init__(self, docs: list[dict], rng: np.random.Generator) -> None:
        self.docs, self.rng = docs, rng
        self.sentences = [s for d in docs for s in split_sentences(d.get("text", "")) if len(s) > 20]
        self.centres = rng.normal(size=(200, DIM)).astype(np.float32)
        self.n = 0

    def vectors(self, n: int) -> np.ndarray:
        v = self.centres[self.rng.integers(len(self.centres), size=n)] + 0.9 * self.rng.normal(size=(n, DIM))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def batch(self, n_docs: int) -> list[DocumentWrite]:
        out = []
        for _ in range(n_docs):
            i, self.n = self.n, self.n + 1
            if i < len(self.docs):
                title, texts = self.docs[i].get("title", ""), [self.docs[i].get("text", "")]
            else:
                own = self.docs[int(self.rng.integers(len(self.docs)))]
                title = own.get("title", "")
                texts = [" ".join(self.sentences[int(j)] for j in self.rng.integers(len(self.sentences), size=6))]
            doc_id = f"b{i:07d}"
            record = DocumentRecord(doc_id, f"bench://{doc_id}", title, "text", doc_id, len(texts))
            chunks = [Chunk(f"{doc_id}#{k}", doc_id, k, t) for k, t in enumerate(texts)]
            out.append(DocumentWrite(record, chunks, self.vectors(len(chunks))))
        return out


def fill(stores: dict[str, Any], corpus: Corpus, size: int, writes_s: dict[str, float]) -> None:
    """Grow both stores to `size` chunks, the same batches, alternating which goes first."""
    have = stores["sqlite"].stats()["chunks"]
    turn = 0
    while have < size:
        batch = corpus.batch(min(BATCH, size - have))
        for name in ("sqlite", "postgres") if turn % 2 == 0 else ("postgres", "sqlite"):
            t0 = time.perf_counter()
            stores[name].write_documents(batch)
            writes_s[name] += time.perf_counter() - t0
        have += sum(len(w.chunks) for w in batch)
        turn += 1


def build_postings(pg: PostgresStore) -> dict[str, float]:
    """The SQL alternative's tables, from the store's own term counts; returns N and avgdl."""
    with pg.db.write(generation=False) as (cur, _):
        cur.execute("DROP TABLE IF EXISTS postings; DROP TABLE IF EXISTS chunk_len")
        cur.execute("CREATE TABLE postings (term_id int, chunk_rowid bigint, tf int)")
        cur.execute("CREATE TABLE chunk_len (rowid bigint PRIMARY KEY, len real)")
        cur.execute("SELECT chunk_rowid, counts FROM chunk_terms")
        rows = cur.fetchall()
        with cur.copy("COPY postings FROM STDIN") as copy:
            for rowid, blob in rows:
                for t, c in zip(*decode_counts(bytes(blob)), strict=True):
                    copy.write_row((int(t), rowid, int(c)))
        with cur.copy("COPY chunk_len FROM STDIN") as copy:
            for rowid, blob in rows:
                copy.write_row((rowid, float(decode_counts(bytes(blob))[1].sum())))
        cur.execute(
            "CREATE INDEX postings_term ON postings(term_id, chunk_rowid, tf); CLUSTER postings USING "
            "postings_term; ANALYZE postings; ANALYZE chunk_len"
        )
        cur.execute("SELECT count(*), avg(len) FROM chunk_len")
        n, avgdl = cur.fetchone()
    return {"n": float(n), "avgdl": float(avgdl)}


def sql_bm25(pg: PostgresStore, query: str, stats: dict[str, float]) -> list[tuple[int, float]]:
    vocab = pg._search.current(pg._search.generation()).vocab
    ids: dict[int, int] = {}
    for term in pg.analyzer.terms(query):
        if term in vocab:
            ids[vocab[term]] = ids.get(vocab[term], 0) + 1
    if not ids:
        return []
    k1, b = pg.bm25_params
    with pg.db.read() as cur:
        cur.execute(SQL_BM25, {"ids": list(ids), "qn": list(ids.values()), "k1": k1, "b": b, "k1p1": k1 + 1, **stats})
        return cur.fetchall()


def timed_rounds(calls: dict[str, Any], items: list[Any]) -> dict[str, list[float]]:
    """Each item through every call, in rotating order (a busy machine's drift hits all alike)."""
    out: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for i, item in enumerate(items):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            calls[name](item)
            out[name].append(time.perf_counter() - t0)
    return out


def measure(stores: dict[str, Any], corpus: Corpus, queries: list[str], size: int) -> dict[str, Any]:
    sqlite, pg = stores["sqlite"], stores["postgres"]
    t0 = time.perf_counter()
    sqlite.warm()
    sqlite_warm = time.perf_counter() - t0
    fresh = PostgresStore(pg.url, ann_threshold=pg.ann_threshold)
    t0 = time.perf_counter()
    fresh.warm()  # a full read of the keyword index
    pg_full_read = time.perf_counter() - t0
    fresh.close()
    pg.warm()
    stats = build_postings(pg)
    for q in queries[:5]:
        sql_bm25(pg, q, stats)
    keyword = timed_rounds(
        {
            "sqlite": lambda q: sqlite.keyword_search(q, 100),
            "postgres": lambda q: pg.keyword_search(q, 100),
            "postgres_sql_postings": lambda q: sql_bm25(pg, q, stats),
        },
        queries,
    )
    agree = [_same_top(sqlite.keyword_search(q, 10), pg.keyword_search(q, 10)) for q in queries]
    vectors = corpus.vectors(len(queries))

    def exact(v: np.ndarray) -> Any:
        return pg._search._run(pg._search.dense_plan(v, 100).exact())

    dense = timed_rounds(
        {
            "sqlite": lambda v: sqlite.vector_search(v, 100),
            "postgres": lambda v: pg.vector_search(v, 100),
            "postgres_exact": exact,
        },
        list(vectors),
    )
    recall = _recall(pg, vectors)

    def hybrid_of(store: Any) -> Any:
        return lambda i: (store.keyword_search(queries[i], 100), store.vector_search(vectors[i], 100))

    hybrid = timed_rounds({"sqlite": hybrid_of(sqlite), "postgres": hybrid_of(pg)}, list(range(len(queries))))
    catch_up = _catch_up(stores, corpus, queries[0])
    return {
        "chunks": size,
        "keyword_ms": {k: percentiles_ms(v) for k, v in keyword.items()},
        "bm25_top10_same_share": round(float(np.mean(agree)), 4),
        "dense_ms": {k: percentiles_ms(v) for k, v in dense.items()},
        "postgres_dense_hnsw": pg.ann_threshold < size,
        "recall_at_10": recall,
        "hybrid_ms": {k: percentiles_ms(v) for k, v in hybrid.items()},
        "sqlite_warm_s": round(sqlite_warm, 3),
        "postgres_keyword_full_read_s": round(pg_full_read, 3),
        "postgres_keyword_catch_up_ms": catch_up,
    }


def _same_top(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    return len(a) == len(b) and all(abs(x[1] - y[1]) <= 1e-4 for x, y in zip(a, b, strict=True))


def _recall(pg: PostgresStore, queries: np.ndarray) -> dict[str, float]:
    """recall@10 of pgvector's answers against numpy: vector_search(q, 10) ("search"), the top 10 of
    vector_search(q, 100) ("search_k100": the candidate depth hybrid search asks for), and exact."""
    with pg.db.read(binary=True) as cur:
        cur.execute("SELECT c.chunk_id, v.embedding FROM vectors v JOIN chunks c ON c.rowid = v.chunk_rowid")
        rows = cur.fetchall()
    names = [r[0] for r in rows]
    matrix = np.stack([r[1].to_numpy() for r in rows])
    got: dict[str, list[float]] = {"search": [], "search_k100": [], "exact": []}
    for q in queries[:100]:
        truth = {names[i] for i in np.argsort(-(matrix @ q))[:10]}
        got["search"].append(len(truth & {c for c, _ in pg.vector_search(q, 10)}) / 10)
        got["search_k100"].append(len(truth & {c for c, _ in pg.vector_search(q, 100)[:10]}) / 10)
        got["exact"].append(len(truth & {c for c, _ in pg._search._run(pg._search.dense_plan(q, 10).exact())}) / 10)
    return {k: round(float(np.mean(v)), 4) for k, v in got.items()}


def _catch_up(stores: dict[str, Any], corpus: Corpus, query: str) -> dict[str, float]:
    """A write of 10 documents, then the search that takes it in (PostgreSQL: a catch-up)."""
    out = {}
    batch = corpus.batch(10)
    for name, store in stores.items():
        store.write_documents(batch)
        t0 = time.perf_counter()
        store.keyword_search(query, 100)
        out[name] = round((time.perf_counter() - t0) * 1000, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(ap)
    ap.add_argument("--sizes", default="5000,100000", help="store sizes in chunks (default 5000,100000)")
    ap.add_argument("--queries", type=int, default=300, help="SciFact test queries used (default 300)")
    ap.add_argument("--url", help="postgresql://... of an empty database (default: a throwaway cluster)")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip())
    corpus_path, queries_path = scifact_paths(args.data)
    queries = [q["text"] for q in load_jsonl(queries_path)][: args.queries]
    corpus = Corpus(load_jsonl(corpus_path), np.random.default_rng(args.seed))
    load, cluster = MachineLoad(), None
    url = args.url
    if url is None:
        from tests import pg as pgtool

        cluster = pgtool.start()
        url = cluster.url
    try:
        with tempfile.TemporaryDirectory(prefix="ragwright-bench-pg-") as tmp:
            stores = {"sqlite": SqliteStore(Path(tmp) / "s.db"), "postgres": PostgresStore(url)}
            writes_s = {"sqlite": 0.0, "postgres": 0.0}
            out: dict[str, Any] = {"sizes": []}
            try:
                for size in sizes:
                    fill(stores, corpus, size, writes_s)
                    say(
                        f"{size} chunks: writes so far sqlite {writes_s['sqlite']:.1f} s, "
                        f"postgres {writes_s['postgres']:.1f} s"
                    )
                    out["sizes"].append(measure(stores, corpus, queries, size))
                chunks = stores["sqlite"].stats()["chunks"]
                out["write_chunks_per_s"] = {k: round(chunks / v, 1) for k, v in writes_s.items()}
            finally:
                for store in stores.values():
                    store.close()
    finally:
        if cluster is not None:
            pgtool.stop(cluster)
    out["machine_load"] = load.report()
    out["environment"] = environment()
    report(out)
    emit(out)
    return 0


def report(out: dict[str, Any]) -> None:
    rows = []
    for s in out["sizes"]:
        for part in ("keyword_ms", "dense_ms", "hybrid_ms"):
            for name, p in s[part].items():
                rows.append([s["chunks"], part[:-3], name, p["p50"], p["p99"]])
    say(table(rows, ["chunks", "part", "backend", "p50 ms", "p99 ms"]))
    for s in out["sizes"]:
        say(
            f"{s['chunks']}: recall@10 {s['recall_at_10']}, BM25 top 10 equal {s['bm25_top10_same_share']}, "
            f"catch-up ms {s['postgres_keyword_catch_up_ms']}, full read {s['postgres_keyword_full_read_s']} s"
        )
    say(f"writes, chunks/s: {out['write_chunks_per_s']}")
    say_machine_load(out["machine_load"])


if __name__ == "__main__":
    sys.exit(main())
