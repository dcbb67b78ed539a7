"""The fused int8 embedding graph against the packaged one: same vectors, same retrieval quality?

    python bench/embedder_quality.py                          # SciFact (all 5,183 docs) and PubMedQA
    python bench/embedder_quality.py --datasets scifact --limit 1000   # a quicker look

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
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, MachineLoad, emit, environment, record_chunk_texts, say, say_machine_load, table

from ragwright import Settings, TextRecord, Workspace
from ragwright.evaluate import evaluate_retrieval, load_beir
from ragwright.ingest import Chunker
from ragwright.models.embedding import LocalMiniLM

SLICE = 200  # chunks per timed slice; the two graphs alternate so that drift hits both


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


def embed_both(texts: list[str], old: LocalMiniLM, new: LocalMiniLM) -> tuple[np.ndarray, np.ndarray, dict]:
    parts: dict[str, list[np.ndarray]] = {"old": [], "new": []}
    seconds = {"old": 0.0, "new": 0.0}
    for n, start in enumerate(range(0, len(texts), SLICE)):
        batch = texts[start : start + SLICE]
        for name in ("old", "new") if n % 2 == 0 else ("new", "old"):
            t0 = time.perf_counter()
            parts[name].append((old if name == "old" else new).embed(batch))
            seconds[name] += time.perf_counter() - t0
    speed = {k: round(len(texts) / v, 1) for k, v in seconds.items()}
    return np.vstack(parts["old"]), np.vstack(parts["new"]), speed


def ndcg(records: list[TextRecord], dataset, docs: dict[str, np.ndarray], queries: LocalMiniLM) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(settings=Settings(data_dir=Path(tmp)), embedder=Recorded(docs, queries))
        ws.ingest_records(records)
        run = evaluate_retrieval(dataset, lambda q: ws.search(q, k=300), pipeline="default")
        ws.close()
    return round(run.metrics["ndcg@10"], 4)


def one_dataset(name: str, folder: Path, limit: int, old: LocalMiniLM, new: LocalMiniLM) -> dict:
    dataset = load_beir(folder, "test")
    records = list(dataset.corpus())
    if limit:
        records = records[:limit]
        kept = {r.id for r in records}
        dataset.qrels = {q: {d: g for d, g in rel.items() if d in kept} for q, rel in dataset.qrels.items()}
        dataset.qrels = {q: rel for q, rel in dataset.qrels.items() if rel}
        dataset.queries = {q: t for q, t in dataset.queries.items() if q in dataset.qrels}
    texts = chunk_texts(records, new)
    say(f"{name}: {len(records)} documents, {len(texts)} distinct chunks, {len(dataset.queries)} queries")
    old_v, new_v, speed = embed_both(texts, old, new)
    cos = (old_v * new_v).sum(axis=1)
    before, after = dict(zip(texts, old_v, strict=True)), dict(zip(texts, new_v, strict=True))
    result = {
        "documents": len(records),
        "chunks": len(texts),
        "queries": len(dataset.queries),
        "chunks_per_s_2_threads": speed,
        "cosine": {
            "mean": round(float(cos.mean()), 5),
            "min": round(float(cos.min()), 5),
            "p1": round(float(np.percentile(cos, 1)), 5),
        },
        "ndcg@10": {
            "old_index_old_queries": ndcg(records, dataset, before, old),
            "new_index_new_queries": ndcg(records, dataset, after, new),
            "old_index_new_queries": ndcg(records, dataset, before, new),
        },
    }
    base = result["ndcg@10"]["old_index_old_queries"]
    result["ndcg_gate_0.003"] = all(abs(v - base) <= 0.003 for v in result["ndcg@10"].values())
    result["cosine_gate"] = result["cosine"]["mean"] >= 0.995 and result["cosine"]["min"] >= 0.98
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding scifact/ and pubmedqa/")
    ap.add_argument("--datasets", default="scifact,pubmedqa")
    ap.add_argument("--limit", type=int, default=0, help="first N documents of each corpus (0 = all)")
    args = ap.parse_args(argv)
    load = MachineLoad()
    old, new = LocalMiniLM(graph="packaged"), LocalMiniLM(graph="fused-int8")
    old.warm_up(), new.warm_up()
    results = {}
    for name in args.datasets.split(","):
        folder = args.data / name
        if not (folder / "corpus.jsonl").is_file():
            say(f"bench: {folder / 'corpus.jsonl'} not found")
            return 1
        results[name] = one_dataset(name, folder, args.limit, old, new)
        say(f"{name}: {results[name]}")
    rows = [
        [n, r["chunks"], r["cosine"]["mean"], r["cosine"]["min"], r["chunks_per_s_2_threads"]["old"],
         r["chunks_per_s_2_threads"]["new"], *r["ndcg@10"].values(), r["cosine_gate"] and r["ndcg_gate_0.003"]]
        for n, r in results.items()
    ]  # fmt: skip
    say(table(rows, ["dataset", "chunks", "cos mean", "cos min", "old ch/s", "new ch/s",
                     "nDCG old/old", "new/new", "old idx/new q", "gates"]))  # fmt: skip
    machine = load.report()
    say_machine_load(machine)
    emit({"benchmark": "embedder_quality", "results": results, "machine_load": machine, "environment": environment()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
