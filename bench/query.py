"""Retrieval latency: Workspace.search(q, k=10) at 5k and 100k chunks, with its parts and a
plain numpy peer measured in the same run.

    python bench/query.py                          # --sizes 5000,100000 (about 5 min on 2 cores)
    python bench/query.py --sizes 1000,20000 --queries 50 --min-searches 100   # a smoke run

How the stores are built (all in a temporary directory):

  * real: SciFact documents, in corpus order, ingested with Workspace.ingest_records (the real
    model), as many as fit in the smallest size (or --limit documents, if fewer);
  * synthetic: each larger size is reached by adding documents directly through
    store.write_documents, 1,000 documents per call. Their chunk texts recombine sentences
    of real SciFact abstracts (so FTS5 term statistics stay realistic): each document takes
    the title and 9 in 10 sentences from one abstract, the rest from any; their chunk counts
    and lengths follow the real chunks (the share of chunks an OR-query matches, reported as
    fts_matched_share, stays near real SciFact's ~0.41 at p50), and their
    vectors mix two real chunk vectors plus a little noise, re-normalised (float32, L2, 384).

At each size: a few warm-up searches (the first one after a write rebuilds the in-memory
indexes from SQLite and is reported separately), then every query is run through, per query and back to back:

  hybrid   ws.search(q, k=10): embedding + BM25 + dense + fusion + fetching the chunks
  embed    ws.embedder.embed([q])
  bm25     ws.store.keyword_search(q, 100)
  dense    ws.store.vector_search(vec, 100)
  peers:   numpy exact top-100 over the same vectors (matrix @ q, argpartition, argsort):
           the least the dense part can cost; SQLite FTS5 (porter tokenizer, bm25(), OR of
           the query's terms) top-100 over the same chunk texts, kept in a side database
           that this script fills: what an off-the-shelf embedded BM25 costs

Back to back, each part runs while the worker threads of the one before (onnxruntime's,
OpenBLAS's) may still spin, as inside ws.search; so for --isolated queries, the embedding,
dense and numpy parts are timed once more each after an idle pause (*_idle).

Percentiles p50/p95/p99 in milliseconds. The stated target, p50 <= 20 ms for hybrid search
at 100k chunks on 2 cores, is checked and printed. A human table goes to stderr; one JSON
object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sqlite3
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    MachineLoad,
    add_data_arg,
    emit,
    environment,
    load_jsonl,
    percentiles_ms,
    record_chunk_texts,
    say,
    say_machine_load,
    scifact_paths,
    table,
    timed,
)

from ragwright import Settings, TextRecord, Workspace
from ragwright.ingest import Chunker, split_sentences
from ragwright.models.embedding import LocalMiniLM
from ragwright.store.base import DocumentWrite
from ragwright.types import Chunk, DocumentRecord

# The FTS5 peer's query: the query's words, minus common English stop words, OR-ed and quoted.
_FTS_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "do",
        "does",
        "did",
        "not",
        "no",
        "can",
        "could",
        "should",
        "would",
        "you",
        "your",
        "we",
        "our",
        "us",
    ]
)


# Also timed as the calling thread's CPU time (time.thread_time), which other processes on a
# shared machine disturb far less than wall time (their preemptions are not counted; onnxruntime's
# one-thread query session and the search run on this thread).
CPU_KEYS = ("hybrid", "embed", "hybrid_packaged", "embed_packaged")


def fts_query(text: str) -> str:
    terms = [t for t in re.findall(r"\w+", text.lower()) if t not in _FTS_STOPWORDS]
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))


TARGET_P50_MS = 20.0
TARGET_SIZE = 100_000
DEPTH = 100  # candidates per retriever, as RetrievalSettings.candidates
# issue 20: a new query's embedding on one thread, and hybrid search with a new query, by store size
EMBED_TARGET_MS = 3.0
HYBRID_TARGETS_MS = {5_000: 5.0, 100_000: 12.0}
SYNTH_BATCH_DOCS = 1000
IDLE_S = 0.25  # long enough for onnxruntime's and OpenBLAS's worker threads to stop spinning
PRIMARY_SHARE = 0.9  # of a synthetic chunk's sentences, drawn from its document's one source abstract


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(ap)
    ap.add_argument(
        "--sizes", default="5000,100000", help="store sizes in chunks, comma-separated (default 5000,100000)"
    )
    ap.add_argument(
        "--limit",
        type=int,
        default=0,
        help="at most this many real SciFact documents embedded (0 = as many as fit in the smallest size)",
    )
    ap.add_argument("--queries", type=int, default=0, help="distinct test queries used (0 = all 300)")
    ap.add_argument("--min-searches", type=int, default=300, help="timed searches per size, at least (default 300)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed warm-up searches per size (default 5)")
    ap.add_argument(
        "--isolated",
        type=int,
        default=50,
        help="queries whose embed/dense/numpy parts are timed again after an idle pause (default 50)",
    )
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--graph", default="fused-int8", help="the embedding graph measured (beside 'packaged')")
    args = ap.parse_args(argv)

    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        sys.exit(f"--sizes: expected comma-separated chunk counts, got {args.sizes!r}")
    if not sizes or sizes[0] <= 0:
        sys.exit("--sizes: give at least one positive chunk count")
    corpus_path, queries_path = scifact_paths(args.data)
    corpus = load_jsonl(corpus_path)
    queries = [q["text"] for q in load_jsonl(queries_path) if q.get("text", "").strip()]
    if args.queries:
        queries = queries[: args.queries]
    if not queries:
        sys.exit(f"{queries_path}: no queries")
    passes = max(1, math.ceil(args.min_searches / len(queries)))
    rng = np.random.default_rng(args.seed)
    load = MachineLoad()

    with tempfile.TemporaryDirectory(prefix="ragwright-bench-query-") as tmp:
        ws = Workspace(Path(tmp) / "ws", settings=Settings(), embedder=LocalMiniLM(graph=args.graph))
        # the packaged graph beside it, searching the same store (issue 20); it is another vector
        # space by name, which does not matter here: only its time is measured
        packaged = LocalMiniLM(graph="packaged")
        packaged.name = ws.embedder.name
        before = Workspace(Path(tmp) / "ws", settings=Settings(), embedder=packaged)
        try:
            out = run(ws, before, corpus, queries, sizes, args, passes, rng)
        finally:
            before.close()
            ws.close()
    out["machine_load"] = load.report()
    out["environment"] = environment()
    report(out)
    emit(out)
    return 0


def run(
    ws: Workspace,
    before: Workspace,
    corpus: list[dict],
    queries: list[str],
    sizes: list[int],
    args: argparse.Namespace,
    passes: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    embedder = ws.embedder
    if not isinstance(embedder, LocalMiniLM):
        sys.exit("bench/query.py measures the local embedder; unset RAGWRIGHT_EMBEDDING__PROVIDER")
    t_load, _ = timed(embedder.warm_up)
    embedder.embed(queries[:16])
    before.embedder.embed(queries[:16])

    # Real documents: whole documents, in corpus order, while their chunks fit in the smallest size.
    chunker = Chunker(embedder.count_tokens, ws.settings.ingest.chunk_tokens, ws.settings.ingest.chunk_overlap)
    records: list[TextRecord] = []
    real_chunks = 0
    cap = args.limit or len(corpus)
    for d in corpus[:cap]:
        rec = TextRecord(id=str(d["_id"]), title=d.get("title", ""), text=d.get("text", ""))
        n = len(record_chunk_texts(chunker, rec))
        if real_chunks + n > sizes[0]:
            break
        records.append(rec)
        real_chunks += n
    say(f"query bench: ingesting {len(records):,} SciFact documents ({real_chunks:,} chunks) with the model ...")
    t_ingest, ingest_report = timed(lambda: ws.ingest_records(records))
    say(f"  {t_ingest:.1f} s ({len(records) / t_ingest:.1f} docs/s)")
    if ws.store.stats()["chunks"] != real_chunks:
        say(f"WARNING: the pipeline made {ws.store.stats()['chunks']:,} chunks, this script expected {real_chunks:,}")
    real_chunks = ws.store.stats()["chunks"]

    synth = Synthesizer(ws, corpus, rng)
    fts = FtsPeer(ws)
    results = []
    try:
        for size in sizes:
            have = ws.store.stats()["chunks"]
            t_synth, added = timed(partial(synth.add, size - have)) if size > have else (0.0, 0)
            if added:
                say(
                    f"size {size:,}: added {added:,} synthetic chunks in {t_synth:.1f} s "
                    f"({added / t_synth:,.0f} chunks/s through store.write_documents)"
                )
            t_fts, _ = timed(fts.sync)
            results.append(measure(ws, before, fts, queries, size, passes, args.warmup, args.isolated, rng))
            results[-1]["store"] = {
                **ws.store.stats(),
                "real_chunks": real_chunks,
                "synthetic_chunks": ws.store.stats()["chunks"] - real_chunks,
                "synthetic_write_s": round(t_synth, 2),
                "fts5_peer_fill_s": round(t_fts, 2),
            }
    finally:
        fts.close()

    target_row = next((r for r in results if r["size"] == TARGET_SIZE), None)
    p50 = target_row["latency_ms"]["hybrid"]["p50"] if target_row else None
    return {
        "benchmark": "query",
        "dataset": "scifact",
        "k": 10,
        "candidates": DEPTH,
        "queries": len(queries),
        "passes": passes,
        "model_load_s": round(t_load, 2),
        "real_documents": len(records),
        "real_ingest_s": round(t_ingest, 1),
        "real_ingest_report": {"ingested": ingest_report.ingested, "chunks": ingest_report.chunks},
        "settings": {"retrieval": ws.settings.retrieval.model_dump(mode="json"), "threads": embedder.threads},
        "sizes": results,
        "target": {
            "hybrid_p50_ms_max": TARGET_P50_MS,
            "at_chunks": TARGET_SIZE,
            "hybrid_p50_ms": p50,
            "met": (p50 <= TARGET_P50_MS) if p50 is not None else None,
        },
    }


class Synthesizer:
    """Documents made of real SciFact parts, written straight to the store."""

    def __init__(self, ws: Workspace, corpus: list[dict], rng: np.random.Generator) -> None:
        self.ws = ws
        self.rng = rng
        self.abstracts = [
            (d.get("title", ""), [s for s in split_sentences(d.get("text", "")) if len(s) > 20]) for d in corpus
        ]
        self.abstracts = [a for a in self.abstracts if a[1]]
        self.sentences = [s for _, sents in self.abstracts for s in sents]
        conn = _readonly(ws)
        try:
            rows = conn.execute(
                "SELECT c.doc_id, length(c.text), v.vector FROM chunks c "
                "JOIN vectors v ON v.chunk_rowid = c.rowid ORDER BY c.rowid"
            ).fetchall()
        finally:
            conn.close()
        per_doc: dict[str, int] = {}
        for doc_id, _, _ in rows:
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
        self.chunks_per_doc = np.array(list(per_doc.values()) or [2])
        self.chunk_chars = np.array([r[1] for r in rows] or [1000])
        self.vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        self.n = 0

    def add(self, n_chunks: int) -> int:
        added = 0
        while added < n_chunks:
            writes = []
            while len(writes) < SYNTH_BATCH_DOCS and added < n_chunks:
                want = min(int(self.rng.choice(self.chunks_per_doc)), n_chunks - added)
                writes.append(self._document(want))
                added += want
            self.ws.store.write_documents(writes)
        return added

    def _document(self, n: int) -> DocumentWrite:
        self.n += 1
        doc_id = f"syn_{self.n:07d}"
        # One abstract gives the title and 9 in 10 sentences, any abstract the others: chunks keep
        # a topic, as real ones do (all sentences at random match ~45% more chunks per query).
        title, own = self.abstracts[int(self.rng.integers(len(self.abstracts)))]
        chunks = []
        for i in range(n):
            target = int(self.rng.choice(self.chunk_chars))
            parts: list[str] = []
            size = 0
            while size < target:
                pool = own if self.rng.random() < PRIMARY_SHARE else self.sentences
                s = pool[int(self.rng.integers(len(pool)))]
                parts.append(s)
                size += len(s) + 1
            chunks.append(Chunk(f"{doc_id}#{i}", doc_id, i, " ".join(parts)))
        pick = self.rng.integers(len(self.vectors), size=(n, 2))
        alpha = self.rng.uniform(0.5, 1.0, size=(n, 1)).astype(np.float32)
        mixed = alpha * self.vectors[pick[:, 0]] + (1 - alpha) * self.vectors[pick[:, 1]]
        mixed += self.rng.normal(0, 0.02, size=mixed.shape).astype(np.float32)
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        text = "\n\n".join(c.text for c in chunks)
        record = DocumentRecord(
            doc_id,
            f"synthetic://{doc_id}",
            title,
            "text",
            hashlib.sha256(text.encode()).hexdigest(),
            n,
            {},
            len(text.encode()),
        )
        return DocumentWrite(record, chunks, mixed.astype(np.float32))


class FtsPeer:
    """SQLite FTS5 over the store's chunk texts (as indexed: chunk.context_text(title)), in a
    side database next to the store, filled incrementally by rowid."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.conn = sqlite3.connect(
            ws.settings.db_path.parent / "fts5-peer.db", isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS f USING fts5(content, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self.last = 0

    def sync(self) -> None:
        src = _readonly(self.ws)
        try:
            rows = src.execute(
                "SELECT c.rowid, d.title, c.text, c.heading_path FROM chunks c JOIN documents d "
                "ON d.doc_id = c.doc_id WHERE c.rowid > ? ORDER BY c.rowid",
                (self.last,),
            ).fetchall()
        finally:
            src.close()
        self.conn.execute("BEGIN")
        self.conn.executemany(
            "INSERT INTO f(rowid, content) VALUES (?, ?)",
            [(r, Chunk("", "", 0, text, json.loads(hp)).context_text(title)) for r, title, text, hp in rows],
        )
        self.conn.execute("COMMIT")
        if rows:
            self.last = rows[-1][0]

    def search(self, q: str) -> list:
        match = fts_query(q)
        if not match:
            return []
        return self.conn.execute(
            "SELECT rowid, bm25(f) AS s FROM f WHERE f MATCH ? ORDER BY s LIMIT ?", (match, DEPTH)
        ).fetchall()

    def matches(self, q: str) -> int | None:
        match = fts_query(q)
        return self.conn.execute("SELECT count(*) FROM f WHERE f MATCH ?", (match,)).fetchone()[0] if match else None

    def close(self) -> None:
        self.conn.close()


def measure(
    ws: Workspace,
    before: Workspace,
    fts: FtsPeer,
    queries: list[str],
    size: int,
    passes: int,
    warmup: int,
    isolated: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    store, embedder, old = ws.store, ws.embedder, before.embedder
    assert isinstance(embedder, LocalMiniLM) and isinstance(old, LocalMiniLM)
    # The first search after a write rebuilds the in-memory indexes (vectors, BM25) from SQLite.
    first_ms = timed(lambda: ws.search(queries[0], k=10))[0] * 1000
    for q in queries[1 : 1 + warmup]:
        ws.search(q, k=10)
        before.search(q, k=10)

    # The numpy peer reads the same vectors through its own read-only connection.
    conn = _readonly(ws)
    rows = conn.execute(
        "SELECT v.vector, c.chunk_id FROM vectors v JOIN chunks c ON c.rowid = v.chunk_rowid ORDER BY v.chunk_rowid"
    ).fetchall()
    conn.close()
    matrix = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    chunk_ids = [r[1] for r in rows]
    del rows

    def numpy_top(vec: np.ndarray) -> np.ndarray:
        scores = matrix @ vec
        top = np.argpartition(-scores, DEPTH - 1)[:DEPTH]
        return top[np.argsort(-scores[top])]

    fts_alone = fts.search

    for q in queries[1 : 1 + warmup]:
        numpy_top(embedder.embed([q])[0])
        fts_alone(q)

    keys = ("hybrid", "embed", "bm25", "dense", "numpy_exact", "fts5_peer", "hybrid_packaged", "embed_packaged")
    samples: dict[str, list[float]] = {k: [] for k in (*keys, *(f"{k}_cpu" for k in CPU_KEYS))}
    overlap: list[float] = []
    clock, cpu = time.perf_counter, time.thread_time
    say(f"size {size:,}: {passes * len(queries)} timed searches ...")
    load = MachineLoad()
    for p in range(passes):
        order = rng.permutation(len(queries)) if p else np.arange(len(queries))
        for i in order:
            q = queries[int(i)]
            embedder.forget()  # every search and embedding below is of a query new to its model
            t0, c0 = clock(), cpu()
            ws.search(q, k=10)
            samples["hybrid"].append(clock() - t0)
            samples["hybrid_cpu"].append(cpu() - c0)
            embedder.forget()
            t0, c0 = clock(), cpu()
            vec = embedder.embed([q])[0]
            t1, c1 = clock(), cpu()
            store.keyword_search(q, DEPTH)
            t2 = clock()
            dense = store.vector_search(vec, DEPTH)
            t3 = clock()
            top = numpy_top(vec)
            t4 = clock()
            fts_alone(q)
            t5 = clock()
            old.forget()  # today's path (the packaged graph) on the same query, same store
            c5 = cpu()
            before.search(q, k=10)
            t6, c6 = clock(), cpu()
            old.forget()
            t7, c7 = clock(), cpu()
            old.embed([q])
            t8, c8 = clock(), cpu()
            parts = ("embed", "bm25", "dense", "numpy_exact", "fts5_peer", "hybrid_packaged", "embed_packaged")
            for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t8 - t7), strict=True):
                samples[key].append(dt)
            for key, dt in zip(CPU_KEYS[1:], (c1 - c0, c6 - c5, c8 - c7), strict=True):
                samples[f"{key}_cpu"].append(dt)
            if p == 0:  # share of numpy's exact float32 top 100 that the store's dense search also returns
                found = {c for c, _ in dense}
                overlap.append(sum(chunk_ids[i] in found for i in top) / max(len(top), 1))
    # The same parts once more, each after an idle pause, for a subset of queries: back to back,
    # each runs while the thread pools of the one before (onnxruntime, OpenBLAS) still spin.
    for key in ("embed_idle", "dense_idle", "numpy_exact_idle"):
        samples[key] = []
    for q in queries[:isolated]:
        time.sleep(IDLE_S)
        embedder.forget()
        t0 = clock()
        vec = embedder.embed([q])[0]
        samples["embed_idle"].append(clock() - t0)
        time.sleep(IDLE_S)
        t0 = clock()
        store.vector_search(vec, DEPTH)
        samples["dense_idle"].append(clock() - t0)
        time.sleep(IDLE_S)
        t0 = clock()
        numpy_top(vec)
        samples["numpy_exact_idle"].append(clock() - t0)

    # How many chunks each query's terms reach (FTS5 OR-query): BM25 scores every one of them.
    matched = [m for m in (fts.matches(q) for q in queries) if m is not None]
    n_chunks = len(matrix)

    lat = {k: percentiles_ms(v) for k, v in samples.items() if v}
    parts = lat["embed"]["p50"] + lat["bm25"]["p50"] + lat["dense"]["p50"]
    target = HYBRID_TARGETS_MS.get(size)
    return {
        "size": size,
        "chunks": n_chunks,
        "timed_searches": len(samples["hybrid"]),
        "machine_load_while_timing": load.report(),
        "first_search_after_write_ms": round(first_ms, 1),
        "latency_ms": lat,
        "hybrid_p50_minus_parts_p50_ms": round(lat["hybrid"]["p50"] - parts, 3),
        "dense_vs_numpy_exact_p50": round(lat["dense"]["p50"] / lat["numpy_exact"]["p50"], 3),
        "bm25_vs_fts5_peer_p50": round(lat["bm25"]["p50"] / lat["fts5_peer"]["p50"], 3),
        "fts_matched_share": {
            "p50": round(float(np.median(matched)) / n_chunks, 4),
            "mean": round(float(np.mean(matched)) / n_chunks, 4),
            "p50_rows": int(np.median(matched)),
        }
        if matched
        else None,
        "dense_recall_at_100_vs_numpy_float32": round(float(np.mean(overlap)), 4) if overlap else None,
        "share_of_hybrid_p50": {k: round(lat[k]["p50"] / lat["hybrid"]["p50"], 3) for k in ("embed", "bm25", "dense")},
        "packaged_graph_over_fused_p50": {
            k: round(lat[f"{k}_packaged"]["p50"] / lat[k]["p50"], 2) for k in ("hybrid", "embed")
        },
        "packaged_graph_over_fused_cpu_p50": {
            k: round(lat[f"{k}_packaged_cpu"]["p50"] / lat[f"{k}_cpu"]["p50"], 2) for k in ("hybrid", "embed")
        },
        "issue20_targets": {
            "embed_p50_ms_max": EMBED_TARGET_MS,
            "embed_met": lat["embed"]["p50"] <= EMBED_TARGET_MS,
            "embed_cpu_met": lat["embed_cpu"]["p50"] <= EMBED_TARGET_MS,
            "hybrid_cpu_met": lat["hybrid_cpu"]["p50"] <= target if target else None,
            "hybrid_p50_ms_max": HYBRID_TARGETS_MS.get(size),
            "hybrid_met": lat["hybrid"]["p50"] <= HYBRID_TARGETS_MS[size] if size in HYBRID_TARGETS_MS else None,
        },
    }


def _readonly(ws: Workspace) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{ws.settings.db_path}?mode=ro", uri=True, check_same_thread=False)


def report(out: dict[str, Any]) -> None:
    rows = []
    for r in out["sizes"]:
        lat = r["latency_ms"]
        for key, label in (
            ("hybrid", "hybrid ws.search(k=10), new query"),
            ("embed", "  query embedding (new text)"),
            ("bm25", "  bm25 keyword_search(100)"),
            ("dense", "  dense vector_search(100)"),
            ("numpy_exact", "peer: numpy exact top-100"),
            ("fts5_peer", "peer: FTS5 bm25 top-100"),
            ("hybrid_packaged", "today's graph: hybrid, new query"),
            ("embed_packaged", "today's graph: query embedding"),
            ("hybrid_cpu", "CPU: hybrid, new query"),
            ("embed_cpu", "CPU: query embedding"),
            ("hybrid_packaged_cpu", "CPU, today's graph: hybrid"),
            ("embed_packaged_cpu", "CPU, today's graph: query embedding"),
            ("embed_idle", "after idle: query embedding"),
            ("dense_idle", "after idle: dense"),
            ("numpy_exact_idle", "after idle: numpy peer"),
        ):
            if key not in lat:
                continue
            m = lat[key]
            rows.append([f"{r['size']:,}", label, m["p50"], m["p95"], m["p99"], m["mean"], m["n"]])
    say("")
    say(table(rows, ["chunks", "what", "p50 ms", "p95 ms", "p99 ms", "mean ms", "n"]))
    say("")
    for r in out["sizes"]:
        say(
            f"{r['size']:,} chunks ({r['store']['real_chunks']:,} real, {r['store']['synthetic_chunks']:,} synthetic): "
            f"dense/numpy p50 = {r['dense_vs_numpy_exact_p50']}, bm25/FTS5-peer p50 = {r['bm25_vs_fts5_peer_p50']}, "
            f"hybrid p50 - (embed+bm25+dense) p50 = {r['hybrid_p50_minus_parts_p50_ms']} ms, "
            f"a query matches {r['fts_matched_share']['p50']:.0%} of chunks (p50), "
            f"first search after a write {r['first_search_after_write_ms']} ms; other processes took "
            f"{100 * (r['machine_load_while_timing'] or {}).get('other_processes_share_of_machine', 0):.0f}% "
            f"of the machine while timing"
        )
    for r in out["sizes"]:
        t20, ratio = r["issue20_targets"], r["packaged_graph_over_fused_p50"]
        hybrid = r["latency_ms"]["hybrid"]["p50"]
        say(
            f"{r['size']:,} chunks, new queries: embedding p50 {r['latency_ms']['embed']['p50']} ms "
            f"(target <= {t20['embed_p50_ms_max']}: {'MET' if t20['embed_met'] else 'NOT MET'}), "
            f"hybrid p50 {hybrid} ms (target {t20['hybrid_p50_ms_max'] or 'none'}: "
            f"{ {True: 'MET', False: 'NOT MET', None: '-'}[t20['hybrid_met']] }); today's graph / fused, "
            f"same run: embedding x{ratio['embed']}, hybrid x{ratio['hybrid']}"
        )
        cpu_ratio, lat = r["packaged_graph_over_fused_cpu_p50"], r["latency_ms"]
        say(
            f"  as the calling thread's CPU time: embedding p50 {lat['embed_cpu']['p50']} ms "
            f"({'MET' if t20['embed_cpu_met'] else 'NOT MET'}), hybrid p50 {lat['hybrid_cpu']['p50']} ms "
            f"({ {True: 'MET', False: 'NOT MET', None: '-'}[t20['hybrid_cpu_met']] }); today's graph / fused: "
            f"embedding x{cpu_ratio['embed']}, hybrid x{cpu_ratio['hybrid']}"
        )
    t = out["target"]
    if t["met"] is None:
        say(
            f"target: hybrid p50 <= {t['hybrid_p50_ms_max']} ms at {t['at_chunks']:,} chunks: not measured "
            f"(add {t['at_chunks']} to --sizes)"
        )
    else:
        say(
            f"target: hybrid p50 <= {t['hybrid_p50_ms_max']} ms at {t['at_chunks']:,} chunks: "
            f"{t['hybrid_p50_ms']} ms -> {'MET' if t['met'] else 'NOT MET'}"
        )
    say_machine_load(out.get("machine_load"))


if __name__ == "__main__":
    sys.exit(main())
