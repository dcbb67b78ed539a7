"""Does feedback improve retrieval? Simulated users give relevance feedback on SciFact's train
queries, `ragwright learn` learns from it, and the test split (300 other queries) is measured
before and after.

    python bench/feedback_learning.py [--data ../shared/data] [--seen 10] [--train-limit N]

The simulated user of each train query runs a real search (which leaves a trace) and looks at
the first --seen results; through the real feedback API (record_feedback) they mark each chunk
they saw as relevant (its document is in the train qrels) or not relevant. A relevant document
they did not see gets no mark: users can only judge what they were shown (how many such
documents there were is reported). Then learn; then nDCG@10 on the test split, per query, with
and without what was learned, and with each of its parts alone (the adapter, the memory).

Nothing of the test split reaches learning: test queries are searched with tracing off, after
the feedback was recorded, and the script asserts that no test query is among the feedback's
or the traces' queries (2 train claims that are word for word test claims are left out). The
SciFact index is built once and kept in ~/.cache/ragwright-bench (about 10-20 minutes on 2
cores); each run works on a copy of it. Prints a table to stderr and one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, MachineLoad, emit, environment, percentiles_ms, say, table

from ragwright import Settings, Workspace
from ragwright.evaluate import document_run, evaluate, load_beir
from ragwright.feedback import record_feedback
from ragwright.feedback.examples import normal
from ragwright.feedback.learn import learn, rollback
from ragwright.models.embedding import NAMES, choose_graph
from ragwright.retrieve import HybridRetriever
from ragwright.retrieve.adapter import LearnedModel, active_model

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragwright-bench"


def cached_store(folder: Path, dataset) -> Path:
    """The SciFact index, built once per corpus, settings and graph; returns its data directory."""
    settings = Settings()
    h = hashlib.sha256()
    with (folder / "corpus.jsonl").open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    h.update(settings.ingest.model_dump_json().encode() + settings.embedding.model_dump_json().encode())
    # the local graph a new data dir gets (by its name, which changes with the recipe): an index of
    # another graph is another vector space, and the workspace would refuse to query it with this one
    h.update(NAMES.get(choose_graph(None), "").encode())
    path = CACHE / f"scifact-{h.hexdigest()[:12]}"
    if not (path / "ready").is_file():
        say(f"indexing SciFact into {path} (once; later runs reuse it)")
        ws = Workspace(settings=Settings(data_dir=path))
        t0 = time.perf_counter()
        report = ws.ingest_records(dataset.corpus())
        ws.close()
        say(f"indexed {report.ingested} documents ({report.chunks} chunks) in {time.perf_counter() - t0:.0f} s")
        (path / "ready").write_text("ok\n")
    return path


def copy_store(src: Path, dest: Path) -> None:
    """A consistent copy through SQLite's backup API (the WAL included)."""
    dest.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src / "ragwright.db") as a, sqlite3.connect(dest / "ragwright.db") as b:
        a.backup(b)


LATENCY: dict[str, list[float]] = {}


def measure(ws: Workspace, dataset, learned, name: str | None = None) -> dict[str, float]:
    """Per-query nDCG@10 on `dataset`, with `learned` (None: as shipped); search times kept by name."""
    retriever = HybridRetriever(ws.store, ws.embedder, ws.settings.retrieval, learned=learned)
    run = {}
    for q, text in dataset.queries.items():
        t0 = time.perf_counter()
        results = retriever.search(text, 100, max_chars=10**7).results
        if name:
            LATENCY.setdefault(name, []).append(time.perf_counter() - t0)
        run[q] = document_run(results)
    return {q: m["ndcg@10"] for q, m in evaluate(dataset.qrels, run)[1].items()}


def simulate(ws: Workspace, train, seen: int) -> dict[str, int]:
    """One search per train query and feedback on the results the user saw."""
    counts = {
        "queries": 0,
        "relevant_marks": 0,
        "not_relevant_marks": 0,
        "queries_with_relevant": 0,
        "relevant_docs": 0,
        "relevant_docs_unseen": 0,
    }
    for qid, text in train.queries.items():
        results = ws.search(text, k=seen)
        (trace,) = ws.store.list_traces(limit=1, name="search")
        trace = ws.store.get_trace(trace["trace_id"])
        assert trace["input"]["query"] == text
        relevant = {d for d, g in train.qrels[qid].items() if g > 0}
        marks = [{"chunk_id": r.chunk_id, "relevant": r.doc_id in relevant} for r in results]
        record_feedback(ws.store, trace, key_id=None, tenant=None, marks=marks)
        shown = {r.doc_id for r in results}
        counts["queries"] += 1
        counts["relevant_marks"] += sum(m["relevant"] for m in marks)
        counts["not_relevant_marks"] += sum(not m["relevant"] for m in marks)
        counts["queries_with_relevant"] += bool(relevant & shown)
        counts["relevant_docs"] += len(relevant)
        counts["relevant_docs_unseen"] += len(relevant - shown)
    return counts


def compare(before: dict[str, float], after: dict[str, float]) -> dict[str, float | int]:
    qs = list(before)
    return {
        "queries": len(qs),
        "ndcg@10_before": round(sum(before.values()) / len(qs), 4),
        "ndcg@10_after": round(sum(after[q] for q in qs) / len(qs), 4),
        "delta": round(sum(after[q] - before[q] for q in qs) / len(qs), 4),
        "wins": sum(after[q] > before[q] + 1e-9 for q in qs),
        "losses": sum(after[q] < before[q] - 1e-9 for q in qs),
        "ties": sum(abs(after[q] - before[q]) <= 1e-9 for q in qs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding scifact/ (BEIR layout)")
    ap.add_argument("--seen", type=int, default=10, help="results each simulated user looks at and marks")
    ap.add_argument("--train-limit", type=int, default=None, help="use only the first N train queries")
    args = ap.parse_args()
    folder = args.data / "scifact" if (args.data / "scifact").is_dir() else args.data
    if not (folder / "qrels" / "train.tsv").is_file():
        sys.exit(f"bench: {folder}/qrels/train.tsv not found; point --data at the folder holding scifact/")
    load = MachineLoad()
    train, test = load_beir(folder, "train"), load_beir(folder, "test")
    if args.train_limit:
        train.queries = dict(list(train.queries.items())[: args.train_limit])
    test_texts = {normal(t) for t in test.queries.values()}
    assert not set(train.queries) & set(test.queries), "train and test share query ids"
    # BEIR's SciFact train split holds 2 claims word for word the same as test claims: left out
    duplicates = sorted(q for q, t in train.queries.items() if normal(t) in test_texts)
    train.queries = {q: t for q, t in train.queries.items() if q not in duplicates}
    source = cached_store(folder, test)
    with tempfile.TemporaryDirectory() as tmp:
        copy_store(source, Path(tmp))
        ws = Workspace(settings=Settings(data_dir=Path(tmp)))
        ws.embedder.warm_up()
        embedder = ws.store.get_meta("embedder")  # the graph the index was built with (figures depend on it)
        assert not ws.store.list_feedback() and active_model(ws.store) is None, "the cached index holds feedback"
        t0 = time.perf_counter()
        counts = simulate(ws, train, args.seen)
        simulate_s = time.perf_counter() - t0
        say(
            f"feedback: {counts['queries']} train queries, {counts['relevant_marks']} relevant and "
            f"{counts['not_relevant_marks']} not relevant marks in {simulate_s:.0f} s; "
            f"{counts['relevant_docs_unseen']} of {counts['relevant_docs']} relevant documents were not in the "
            f"top {args.seen} and could not be marked"
        )
        feedback_queries = {normal(f["query"]) for f in ws.store.list_feedback()}
        traced = {normal(str(t["input"].get("query", ""))) for t in ws.store.list_traces(limit=10**6)}
        assert not (feedback_queries | traced) & test_texts, "a test query reached the feedback or the traces"
        t0 = time.perf_counter()
        report = learn(ws.store, ws.embedder, ws.settings.retrieval, progress=lambda m: say(f"learn: {m}"))
        learn_s = time.perf_counter() - t0
        version = active_model(ws.store)  # the operator's feedback: the part for searches without a tenant
        model = version.for_scope("") if version is not None else None
        assert model is not None and len(model.examples) == report["feedback"]["queries"]
        ws.settings.observe.traces = False  # the test split leaves nothing in the store
        t0 = time.perf_counter()
        measure(ws, test, None, "warm-up")  # indexes loaded, query embeddings cached: what remains is search
        before = measure(ws, test, None, "as shipped")
        after = measure(ws, test, "active", "learned")
        parts = {
            "adapter only": LearnedModel(W=model.W),
            "memory only": LearnedModel(
                examples=model.examples, scopes=model.scopes, marks=model.marks, params=model.params
            ),
        }
        alone = {name: measure(ws, test, m) for name, m in parts.items()}
        rolled = rollback(ws.store)
        restored = measure(ws, test, "active")
        test_s = time.perf_counter() - t0
        ws.close()
    result = compare(before, after)
    by_group = groups(test, train, before, after)
    changes = sorted(before, key=lambda q: after[q] - before[q])
    largest = {
        "gains": [change(test, q, before, after) for q in reversed(changes[-5:])],
        "losses": [change(test, q, before, after) for q in changes[:5] if after[q] < before[q]],
    }
    rows = [
        ["as shipped", result["ndcg@10_before"], "", "", ""],
        [
            "learned (" + report["chosen"]["kind"] + ")",
            result["ndcg@10_after"],
            result["wins"],
            result["losses"],
            result["ties"],
        ],
    ]
    for name, scores in alone.items():
        r = compare(before, scores)
        rows.append([f"  {name}", r["ndcg@10_after"], r["wins"], r["losses"], r["ties"]])
    rows.append(["after --rollback", compare(before, restored)["ndcg@10_after"], "", "", ""])
    say(f"\nembedder: {embedder}")
    say(table(rows, ["SciFact test (300 queries)", "nDCG@10", "wins", "losses", "ties"]))
    say()
    say(
        table(
            [
                [g, r["queries"], r["ndcg@10_before"], r["ndcg@10_after"], r["wins"], r["losses"]]
                for g, r in by_group.items()
                if r["queries"]
            ],
            ["test queries", "n", "before", "after", "wins", "losses"],
        )
    )
    val = report["validation"]
    say(
        f"\nlearn: {report['pairs']['relevant']} relevant / {report['pairs']['not_relevant']} not relevant pairs "
        f"from {report['feedback']['queries']} queries in {learn_s:.0f} s; held-out feedback nDCG@10 "
        f"{val['ndcg@10_before']:.4f} -> {val['ndcg@10_after']:.4f}; chosen {report['chosen']}"
    )
    p50 = {name: percentiles_ms(v)["p50"] for name, v in LATENCY.items()}
    say(
        f"search p50 (k=100, query embeddings cached): {p50['as shipped']:.1f} ms as shipped, "
        f"{p50['learned']:.1f} ms learned"
    )
    say(f"target: +0.02 nDCG@10 on test -> {result['delta']:+.4f} ({'met' if result['delta'] >= 0.02 else 'NOT met'})")
    for kind in ("gains", "losses"):
        for c in largest[kind]:
            say(f"  {kind:6} {c['delta']:+.3f} {c['query'][:90]}")
    emit(
        {
            "benchmark": "feedback_learning",
            "dataset": "scifact",
            "feedback_split": "train",
            "measured_split": "test",
            "embedder": embedder,
            "seen_per_query": args.seen,
            "feedback": counts,
            "train_queries_left_out_as_test_duplicates": duplicates,
            "learn": report,
            "test": result,
            "test_parts": {name: compare(before, s) for name, s in alone.items()},
            "test_by_group": by_group,
            "largest_changes": largest,
            "rollback": {**rolled, "restores_exactly": restored == before},
            "target_delta": 0.02,
            "target_met": result["delta"] >= 0.02,
            "search_latency_ms_k100_embedding_cached": {
                name: percentiles_ms(v) for name, v in LATENCY.items() if name != "warm-up"
            },
            "seconds": {"feedback": round(simulate_s, 1), "learn": round(learn_s, 1), "test": round(test_s, 1)},
            "machine_load": load.report(),
            "environment": environment(),
        }
    )


def groups(test, train, before, after) -> dict[str, dict]:
    """Test queries split by whether a relevant document of theirs was among the train queries'
    relevant documents (which feedback may have marked) or not: where the gain comes from."""
    train_docs = {d for q in train.queries for d, g in train.qrels[q].items() if g > 0}
    out = {}
    for name, keep in (("a relevant doc is relevant to a train query", True), ("no relevant doc shared", False)):
        qs = [q for q in test.queries if bool({d for d, g in test.qrels[q].items() if g > 0} & train_docs) == keep]
        out[name] = compare({q: before[q] for q in qs}, after) if qs else {"queries": 0}
    return out


def change(test, q, before, after) -> dict:
    return {
        "query_id": q,
        "query": test.queries[q],
        "before": round(before[q], 4),
        "after": round(after[q], 4),
        "delta": round(after[q] - before[q], 4),
    }


if __name__ == "__main__":
    main()
