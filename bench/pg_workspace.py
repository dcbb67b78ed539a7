"""SQLite against PostgreSQL at the workspace's level (issue 18), side by side in one run, with the
real model: what a user of `Workspace` sees when `[store] url` names PostgreSQL.

    python bench/pg_workspace.py --index-dir ~/.cache/ragwright-bench/pg-scifact   # SciFact, then 100k chunks
    python bench/pg_workspace.py --limit 300 --ingest-docs 60 --grow-to 5000 --queries 30   # smoke run

- index: SciFact's 5,183 abstracts through Workspace.ingest_records (access tenant "bench", as
  bench/server_load.py builds it) into a SQLite data dir, built once in --index-dir and reused; the
  corpus is embedded once. `store/copy.py` then copies it into a fresh SQLite file and into a fresh
  PostgreSQL database (the same path into both, so both measured stores are copies; the copy's
  seconds are reported);
- quality: nDCG@10 on SciFact test through `Workspace.search(q, k=300)` on each (target: identical
  within 0.002, and 0.741), SQLite first; that pass's latencies are in the JSON but not comparable
  (the embedder is shared and remembers queries: SQLite's pass embedded them, PostgreSQL's did not);
- hybrid search: `Workspace.search(q, k=10)` for every test query, both workspaces in rotating
  order, after that first pass (the query embeddings are cached by then: the store's share shows);
- 100k chunks (--grow-to): both stores grown with the same synthetic documents (bench/query.py's
  Synthesizer: real SciFact sentences, vectors mixed from real chunk vectors) through
  store.write_documents, then hybrid search again, and recall@10 of PostgreSQL's dense search
  (HNSW above its ann threshold) against numpy exact, on the embedded test queries;
- ingest: `Workspace.ingest_records` of the first --ingest-docs documents into a fresh SQLite data
  dir and a fresh PostgreSQL database, in --ingest-rounds slices alternating which goes first, one
  shared embedder (target: PostgreSQL >= 0.9x SQLite's docs/s). Each fresh store first takes one
  other document, untimed: in a fresh PostgreSQL store the first write sets the vector column's
  dimension (ALTER TABLE), and a second ingest_records of more than a few documents then failed with
  "cached plan must not change result type" (psycopg had prepared reusable_vectors' query).

PostgreSQL: --url of a server where this user may CREATE DATABASE (three databases named
ragwright_bench_*, dropped first), or a throwaway cluster from tests/pg.py.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

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

from ragwright import Settings, TextRecord, Workspace
from ragwright.evaluate import evaluate_retrieval, load_beir
from ragwright.store.copy import copy_store
from ragwright.types import Access

TENANT = "bench"
NDCG_REFERENCE = 0.741
NDCG_TOLERANCE = 0.002
INGEST_RATIO_MIN = 0.9
HYBRID_RATIO_MAX = 2.0
RECALL_MIN = 0.95


def database(server_url: str, name: str) -> str:
    """A fresh, empty database on the server (dropped first); its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    base, _, query = server_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


def workspace(data_dir: Path, store_url: str = "", embedder: Any = None) -> Workspace:
    settings = Settings(data_dir=data_dir)
    settings.store.url = store_url
    return Workspace(settings=settings, embedder=embedder)


def records(corpus: list[dict]) -> list[TextRecord]:
    return [TextRecord(id=str(d["_id"]), title=d.get("title", ""), text=d.get("text", "")) for d in corpus]


def ensure_index(index_dir: Path, corpus: list[dict]) -> dict[str, Any]:
    """The SQLite SciFact index, built once (the only full embedding of the corpus)."""
    ws = workspace(index_dir)
    try:
        have = len(ws.documents())
        if have:
            say(f"pg workspace: reusing the index in {index_dir} ({have:,} documents)")
            return {"reused": True, "documents": have, "chunks": ws.store.stats()["chunks"]}
        say(f"pg workspace: ingesting {len(corpus):,} SciFact documents into {index_dir} (embedding: minutes) ...")
        t0 = time.perf_counter()
        report = ws.ingest_records(records(corpus), access=Access(TENANT))
        seconds = time.perf_counter() - t0
        return {"reused": False, "documents": report.ingested, "chunks": report.chunks, "ingest_s": round(seconds, 1)}
    finally:
        ws.close()


def quality(wss: dict[str, Workspace], dataset: Any) -> dict[str, Any]:
    """nDCG@10 (k=300 per query, as `ragwright eval` runs), and the latency of this first pass."""
    out: dict[str, Any] = {}
    for name, ws in wss.items():
        lat: list[float] = []

        def search(q: str, ws: Workspace = ws, lat: list[float] = lat) -> list:
            t0 = time.perf_counter()
            hits = ws.search(q, k=300)
            lat.append(time.perf_counter() - t0)
            return hits

        run = evaluate_retrieval(dataset, search, pipeline="default")
        out[name] = {
            "ndcg@10": round(run.metrics["ndcg@10"], 4),
            "recall@100": round(run.metrics["recall@100"], 4),
            "first_pass_k300_ms": percentiles_ms(lat),
        }
    return out


def hybrid(wss: dict[str, Workspace], queries: list[str]) -> dict[str, Any]:
    for q in queries[:10]:  # warm-up (the first search after a write loads or catches up the indexes)
        for ws in wss.values():
            ws.search(q, k=10)
    from pg_store import timed_rounds

    lat = timed_rounds({name: (lambda q, ws=ws: ws.search(q, k=10)) for name, ws in wss.items()}, queries)
    out: dict[str, Any] = {name: percentiles_ms(v) for name, v in lat.items()}
    out["ratio_p50"] = round(out["postgres"]["p50"] / out["sqlite"]["p50"], 3)
    out["ratio_p99"] = round(out["postgres"]["p99"] / out["sqlite"]["p99"], 3)
    return out


class Fanout:
    """Stands in for a Workspace in query.py's Synthesizer: each batch goes to every store, the
    order alternating, the write time kept per store."""

    def __init__(self, wss: dict[str, Workspace]) -> None:
        self.stores = {name: ws.store for name, ws in wss.items()}
        self.seconds = dict.fromkeys(wss, 0.0)
        self.turn = 0

    @property
    def store(self) -> Fanout:
        return self

    def write_documents(self, writes: list[Any]) -> None:
        names = list(self.stores)
        names = names if self.turn % 2 == 0 else names[::-1]
        self.turn += 1
        for name in names:
            t0 = time.perf_counter()
            self.stores[name].write_documents(writes)
            self.seconds[name] += time.perf_counter() - t0


def grow(wss: dict[str, Workspace], corpus: list[dict], size: int, seed: int) -> dict[str, Any]:
    from query import Synthesizer

    have = wss["sqlite"].store.stats()["chunks"]
    synth = Synthesizer(wss["sqlite"], corpus, np.random.default_rng(seed))  # reads the real vectors
    fan = Fanout(wss)
    synth.ws = fan  # type: ignore[assignment]
    added = synth.add(size - have) if size > have else 0
    return {
        "chunks": {name: ws.store.stats()["chunks"] for name, ws in wss.items()},
        "synthetic_chunks": added,
        "write_chunks_per_s": {k: round(added / v, 1) if v else None for k, v in fan.seconds.items()},
    }


def recall(ws_pg: Workspace, queries: list[str]) -> dict[str, Any]:
    """recall@10 of PostgreSQL's vector_search (as shipped) against numpy over all its vectors."""
    from pg_store import _recall

    store = ws_pg.store
    vectors = np.asarray(ws_pg.embedder.embed(queries[:100]), dtype=np.float32)
    got = _recall(store, vectors)  # type: ignore[arg-type]
    return got | {"queries": len(vectors), "hnsw": store.ann_threshold < store.stats()["chunks"]}  # type: ignore[attr-defined]


def ingest(corpus: list[dict], n_docs: int, rounds: int, tmp: Path, server_url: str, embedder: Any) -> dict[str, Any]:
    """Fresh workspaces, the same records in slices, alternating which goes first; docs/s each."""
    wss = {
        "sqlite": workspace(tmp / "ingest-sqlite", embedder=embedder),
        "postgres": workspace(tmp / "ingest-pg", database(server_url, "ragwright_bench_ingest"), embedder),
    }
    recs = records(corpus[:n_docs])
    for ws in wss.values():  # one document first, untimed: its first write fixes PostgreSQL's vector
        ws.ingest_records(records(corpus[-1:]), access=Access(TENANT))  # column type (see the docstring)
    step = max(1, -(-len(recs) // rounds))
    seconds = dict.fromkeys(wss, 0.0)
    per_round = []
    try:
        for r, lo in enumerate(range(0, len(recs), step)):
            part = recs[lo : lo + step]
            names = list(wss) if r % 2 == 0 else list(wss)[::-1]
            got = {}
            for name in names:
                t0 = time.perf_counter()
                wss[name].ingest_records(part, access=Access(TENANT))
                got[name] = time.perf_counter() - t0
                seconds[name] += got[name]
            per_round.append({"docs": len(part), "first": names[0], "ratio": round(got["sqlite"] / got["postgres"], 3)})
            say(
                f"  ingest round {r + 1}: {len(part)} docs, "
                f"sqlite {got['sqlite']:.1f} s, postgres {got['postgres']:.1f} s"
            )
        chunks = {name: ws.store.stats()["chunks"] for name, ws in wss.items()}
    finally:
        for ws in wss.values():
            ws.close()
    docs_s = {name: round(len(recs) / s, 2) for name, s in seconds.items()}
    return {
        "documents": len(recs),
        "chunks": chunks,
        "docs_per_s": docs_s,
        "ratio": round(docs_s["postgres"] / docs_s["sqlite"], 3),
        "rounds": per_round,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(ap)
    ap.add_argument("--index-dir", type=Path, help="SQLite SciFact index: built there if empty, reused (default: temp)")
    ap.add_argument("--limit", type=int, default=0, help="SciFact documents indexed (0 = all 5,183)")
    ap.add_argument("--queries", type=int, default=0, help="test queries used (0 = all 300)")
    ap.add_argument("--grow-to", type=int, default=100_000, help="chunks for the large size (0 = skip)")
    ap.add_argument("--ingest-docs", type=int, default=500, help="documents ingested into each fresh store")
    ap.add_argument("--ingest-rounds", type=int, default=4)
    ap.add_argument("--url", help="postgresql://... of a server where this user may CREATE DATABASE")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    corpus_path, _ = scifact_paths(args.data)
    corpus = load_jsonl(corpus_path, args.limit or None)
    dataset = load_beir(corpus_path.parent, "test")
    if args.queries:
        keep = list(dataset.queries)[: args.queries]
        dataset.queries = {q: dataset.queries[q] for q in keep}
        dataset.qrels = {q: r for q, r in dataset.qrels.items() if q in dataset.queries}
    queries = list(dataset.queries.values())
    load, cluster, url = MachineLoad(), None, args.url
    if url is None:
        from tests import pg as pgtool

        cluster = pgtool.start()
        url = cluster.url
    out: dict[str, Any] = {"benchmark": "pg_workspace", "queries": len(queries)}
    try:
        with tempfile.TemporaryDirectory(prefix="ragwright-bench-pgws-") as tmp_s:
            tmp = Path(tmp_s)
            index_dir = args.index_dir or tmp / "index"
            out["index"] = ensure_index(index_dir, corpus)
            out |= measure(args, corpus, dataset, queries, index_dir, tmp, url)
    finally:
        if cluster is not None:
            pgtool.stop(cluster)
    out["targets"] = targets(out)
    out["machine_load"] = load.report()
    out["environment"] = environment()
    report(out)
    emit(out)
    return 0


def measure(
    args: argparse.Namespace, corpus: list[dict], dataset: Any, queries: list[str], index: Path, tmp: Path, url: str
) -> dict[str, Any]:
    source = f"sqlite:///{index / 'ragwright.db'}"
    pg_url = database(url, "ragwright_bench_ws")
    copies = {}
    for name, target in (("sqlite", f"sqlite:///{tmp / 'sqlite' / 'ragwright.db'}"), ("postgres", pg_url)):
        (tmp / "sqlite").mkdir(exist_ok=True)
        t0 = time.perf_counter()
        rep = copy_store(source, target)
        copies[name] = {"seconds": round(time.perf_counter() - t0, 1), "counts_ok": all(c.ok for c in rep.counts)}
    say(f"pg workspace: copied the index: {copies}")
    wss = {"sqlite": workspace(tmp / "sqlite")}
    wss["postgres"] = workspace(tmp / "pg", pg_url, wss["sqlite"].embedder)
    out: dict[str, Any] = {"copy": copies}
    try:
        wss["sqlite"].embedder.warm_up()
        say("pg workspace: nDCG@10 on SciFact test through Workspace.search, each ...")
        out["quality"] = quality(wss, dataset)
        say(f"  {out['quality']}")
        out["hybrid_scifact"] = hybrid(wss, queries) | {"chunks": wss["sqlite"].store.stats()["chunks"]}
        out["recall_scifact"] = recall(wss["postgres"], queries)
        if args.grow_to:
            say(f"pg workspace: growing both stores to {args.grow_to:,} chunks ...")
            out["grow"] = grow(wss, corpus, args.grow_to, args.seed)
            say(f"  {out['grow']}")
            out["hybrid_large"] = hybrid(wss, queries) | {"chunks": out["grow"]["chunks"]["sqlite"]}
            out["recall_large"] = recall(wss["postgres"], queries)
        embedder = wss["sqlite"].embedder
        say(f"pg workspace: ingesting {args.ingest_docs} documents into fresh stores ...")
        out["ingest"] = ingest(corpus, args.ingest_docs, args.ingest_rounds, tmp, url, embedder)
    finally:
        for ws in wss.values():
            ws.close()
    return out


def targets(out: dict[str, Any]) -> dict[str, Any]:
    q = out["quality"]
    delta = abs(q["postgres"]["ndcg@10"] - q["sqlite"]["ndcg@10"])
    res: dict[str, Any] = {
        "ndcg_identical": {"delta": round(delta, 4), "max": NDCG_TOLERANCE, "met": delta <= NDCG_TOLERANCE},
        "ndcg_reference": {
            "postgres": q["postgres"]["ndcg@10"],
            "reference": NDCG_REFERENCE,
            "met": abs(q["postgres"]["ndcg@10"] - NDCG_REFERENCE) <= NDCG_TOLERANCE,
        },
        "ingest_ratio": {"ratio": out["ingest"]["ratio"], "min": INGEST_RATIO_MIN},
    }
    res["ingest_ratio"]["met"] = out["ingest"]["ratio"] >= INGEST_RATIO_MIN
    if "hybrid_large" in out:
        h, r = out["hybrid_large"], out["recall_large"]
        res["hybrid_p50_ratio_large"] = {"chunks": h["chunks"], "ratio": h["ratio_p50"], "max": HYBRID_RATIO_MAX}
        res["hybrid_p50_ratio_large"]["met"] = h["ratio_p50"] <= HYBRID_RATIO_MAX
        res["recall_at_10_large"] = {"recall": r["search"], "hnsw": r["hnsw"], "min": RECALL_MIN}
        res["recall_at_10_large"]["met"] = r["search"] >= RECALL_MIN
    return res


def report(out: dict[str, Any]) -> None:
    rows = []
    q = out["quality"]
    rows.append(["nDCG@10 SciFact test", q["sqlite"]["ndcg@10"], q["postgres"]["ndcg@10"], "-"])
    for key in ("hybrid_scifact", "hybrid_large"):
        if key in out:
            h = out[key]
            for part in ("p50", "p99"):
                rows.append(
                    [
                        f"hybrid k=10 {h['chunks']:,} chunks {part} ms",
                        h["sqlite"][part],
                        h["postgres"][part],
                        h[f"ratio_{part}"],
                    ]
                )
    i = out["ingest"]
    rows.append(
        [f"ingest docs/s ({i['documents']} docs)", i["docs_per_s"]["sqlite"], i["docs_per_s"]["postgres"], i["ratio"]]
    )
    if "grow" in out:
        w = out["grow"]["write_chunks_per_s"]
        rows.append(["synthetic writes chunks/s", w["sqlite"], w["postgres"], round(w["postgres"] / w["sqlite"], 3)])
    say(table(rows, ["workspace level", "sqlite", "postgres", "pg/sqlite"]))
    for key in ("recall_scifact", "recall_large"):
        if key in out:
            r = out[key]
            say(
                f"{key}: recall@10 of PostgreSQL vector_search(q, 10) {r['search']}, top 10 of "
                f"vector_search(q, 100) {r.get('search_k100')} (hnsw {r['hnsw']})"
            )
    for name, t in out["targets"].items():
        say(f"target {name}: {'MET' if t['met'] else 'NOT MET'} {t}")
    say_machine_load(out["machine_load"])


if __name__ == "__main__":
    sys.exit(main())
