"""The fused int8 embedding graph against the packaged one: same vectors, same retrieval quality?

    python bench/embedder_quality.py                          # SciFact (all 5,183 docs) and PubMedQA
    python bench/embedder_quality.py --datasets scifact --limit 1000   # a quicker look
    python bench/embedder_quality.py --variant ffn5=/tmp/ffn5.onnx --variant pinned   # graphs side by side

The packaged graph's chunk vectors are cached in ~/.cache/ragwright-bench (keyed by the model's
and the chunk texts' sha256), so a run pays only for the variants' own passes. `--variant` names a
graph file (tools/build_embedder.py --out ... --float-nodes ...) or `pinned` (the fused-int8 graph
ragwright ships); each one is measured against the packaged graph: cosine, nDCG both ways, and
single-query latency on one thread on the dataset's queries, alternating with the packaged graph.

For each dataset: every chunk the pipeline would embed (the Workspace's Chunker,
chunk.context_text(title)) is embedded by both graphs (`LocalMiniLM(graph="packaged")`, today's
path, and `graph="fused-int8"`), timed in alternating slices: cosine old vs new (mean, min, 1st
percentile; gates: mean >= 0.995, min >= 0.98). Then the corpus is ingested three times with those
vectors (no model run at ingestion), and the test queries searched with ragwright's default
hybrid search: nDCG@10 of old index + old queries (today), new + new, and old index + new
queries (a workspace indexed before the change, queried after it). Gate: within 0.003 of today.
With --limit the qrels are cut to the documents kept, so nDCG is not comparable with full runs.
A table goes to stderr, one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, MachineLoad, emit, environment, record_chunk_texts, say, say_machine_load, table

from ragwright import Settings, TextRecord, Workspace
from ragwright.evaluate import evaluate_retrieval, load_beir
from ragwright.ingest import Chunker
from ragwright.models.embedding import MODEL_SHA256, LocalMiniLM

SLICE = 200  # chunks per timed slice; the two graphs alternate so that drift hits both
CACHE = Path.home() / ".cache" / "ragwright-bench"
LATENCY_QUERIES = 150  # single-query timings per graph


def packaged_vectors(texts: list[str], old: LocalMiniLM) -> tuple[np.ndarray, float | None]:
    """The packaged graph's vectors of `texts`, from the cache when they were embedded before
    (chunks/s is then None)."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"packaged-{MODEL_SHA256[:12]}-{old.max_tokens}-{digest}.npy"
    if path.is_file():
        return np.load(path), None
    t0 = time.perf_counter()
    vectors = np.vstack([old.embed(texts[i : i + SLICE]) for i in range(0, len(texts), SLICE)])
    speed = round(len(texts) / (time.perf_counter() - t0), 1)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors, speed


def query_ms(queries: list[str], old: LocalMiniLM, new: LocalMiniLM) -> dict[str, float]:
    """p50 ms of one new text on the one-thread session, the graphs alternating per query: wall
    time ("old", "new") and the calling thread's CPU time ("old_cpu", "new_cpu"), which other
    processes on a shared machine disturb far less (their preemptions are not counted)."""
    times: dict[str, list[float]] = {"old": [], "new": [], "old_cpu": [], "new_cpu": []}
    for n, text in enumerate(queries[:LATENCY_QUERIES]):
        for name in ("old", "new") if n % 2 == 0 else ("new", "old"):
            t0, c0 = time.perf_counter(), time.thread_time()
            (old if name == "old" else new)._embed_text(text)
            times[name].append(time.perf_counter() - t0)
            times[name + "_cpu"].append(time.thread_time() - c0)
    return {k: round(float(np.median(v)) * 1000, 2) for k, v in times.items()}


class Recorded(LocalMiniLM):
    """Answers from vectors computed before (the chunks); anything else (a query) runs `query_model`."""

    def __init__(self, vectors: dict[str, np.ndarray], query_model: LocalMiniLM) -> None:
        super().__init__()
        self.vectors, self.query_model = vectors, query_model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if all(t in self.vectors for t in texts):
            return np.vstack([self.vectors[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        return self.query_model.embed(texts)


def chunk_texts(records: list[TextRecord], model: LocalMiniLM) -> list[str]:
    s = Settings().ingest
    chunker = Chunker(model.count_tokens, s.chunk_tokens, s.chunk_overlap)
    return sorted({t for r in records for t in record_chunk_texts(chunker, r)})


def ndcg(records: list[TextRecord], dataset, docs: dict[str, np.ndarray], queries: LocalMiniLM) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(settings=Settings(data_dir=Path(tmp)), embedder=Recorded(docs, queries))
        ws.ingest_records(records)
        run = evaluate_retrieval(dataset, lambda q: ws.search(q, k=300), pipeline="default")
        ws.close()
    return round(run.metrics["ndcg@10"], 4)


def load_dataset(folder: Path, limit: int) -> tuple[Any, list[TextRecord]]:
    dataset = load_beir(folder, "test")
    records = list(dataset.corpus())
    if limit:
        records = records[:limit]
        kept = {r.id for r in records}
        dataset.qrels = {q: {d: g for d, g in rel.items() if d in kept} for q, rel in dataset.qrels.items()}
        dataset.qrels = {q: rel for q, rel in dataset.qrels.items() if rel}
        dataset.queries = {q: t for q, t in dataset.queries.items() if q in dataset.qrels}
    return dataset, records


def one_dataset(name: str, folder: Path, limit: int, old: LocalMiniLM, variants: dict[str, LocalMiniLM]) -> dict:
    dataset, records = load_dataset(folder, limit)
    texts = chunk_texts(records, old)
    say(f"{name}: {len(records)} documents, {len(texts)} distinct chunks, {len(dataset.queries)} queries")
    old_v, old_speed = packaged_vectors(texts, old)
    before = dict(zip(texts, old_v, strict=True))
    base = ndcg(records, dataset, before, old)
    result: dict[str, Any] = {
        "documents": len(records),
        "chunks": len(texts),
        "queries": len(dataset.queries),
        "packaged": {"chunks_per_s_2_threads": old_speed, "ndcg@10": base},
        "variants": {},
    }
    for label, new in variants.items():
        t0 = time.perf_counter()
        new_v = np.vstack([new.embed(texts[i : i + SLICE]) for i in range(0, len(texts), SLICE)])
        speed = round(len(texts) / (time.perf_counter() - t0), 1)
        cos = (old_v * new_v).sum(axis=1)
        after = dict(zip(texts, new_v, strict=True))
        scores = {"new_index_new_queries": ndcg(records, dataset, after, new),
                  "old_index_new_queries": ndcg(records, dataset, before, new)}  # fmt: skip
        cosine = {"mean": float(cos.mean()), "min": float(cos.min()), "p1": float(np.percentile(cos, 1))}
        result["variants"][label] = {
            "chunks_per_s_2_threads": speed,
            "cosine": {k: round(v, 5) for k, v in cosine.items()},
            "ndcg@10": scores,
            "ndcg_gate_0.003": all(abs(v - base) <= 0.003 for v in scores.values()),
            "cosine_gate": cosine["mean"] >= 0.995 and cosine["min"] >= 0.98,
            "query_p50_ms_1_thread": query_ms(list(dataset.queries.values()), old, new),
        }
        say(f"{name} {label}: {result['variants'][label]}")
    return result


def make_variants(specs: list[str]) -> dict[str, LocalMiniLM]:
    """`pinned` or LABEL=PATH (a graph file) per --variant."""
    variants: dict[str, LocalMiniLM] = {}
    for spec in specs or ["pinned"]:
        label, _, path = spec.partition("=")
        variants[label] = LocalMiniLM(graph="fused-int8", graph_file=Path(path) if path else None)
        variants[label].warm_up()
    return variants


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding scifact/ and pubmedqa/")
    ap.add_argument("--datasets", default="scifact,pubmedqa")
    ap.add_argument("--limit", type=int, default=0, help="first N documents of each corpus (0 = all)")
    ap.add_argument("--variant", action="append", default=[], help="'pinned' or LABEL=GRAPH.onnx (repeatable)")
    args = ap.parse_args(argv)
    load = MachineLoad()
    old = LocalMiniLM(graph="packaged")
    old.warm_up()
    variants = make_variants(args.variant)
    results = {}
    for name in args.datasets.split(","):
        folder = args.data / name
        if not (folder / "corpus.jsonl").is_file():
            say(f"bench: {folder / 'corpus.jsonl'} not found")
            return 1
        results[name] = one_dataset(name, folder, args.limit, old, variants)
    rows = [
        [n, label, r["chunks"], v["cosine"]["mean"], v["cosine"]["min"], v["chunks_per_s_2_threads"],
         v["query_p50_ms_1_thread"]["old"], v["query_p50_ms_1_thread"]["new"],
         v["query_p50_ms_1_thread"]["old_cpu"], v["query_p50_ms_1_thread"]["new_cpu"], r["packaged"]["ndcg@10"],
         *v["ndcg@10"].values(), v["cosine_gate"] and v["ndcg_gate_0.003"]]
        for n, r in results.items() for label, v in r["variants"].items()
    ]  # fmt: skip
    say(table(rows, ["dataset", "graph", "chunks", "cos mean", "cos min", "new ch/s", "old q ms", "new q ms",
                     "old q cpu ms", "new q cpu ms", "nDCG old/old", "new/new", "old idx/new q", "gates"]))  # fmt: skip
    machine = load.report()
    say_machine_load(machine)
    emit({"benchmark": "embedder_quality", "results": results, "machine_load": machine, "environment": environment()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
