"""Ingestion throughput on SciFact, against the embedding model alone, in the same run.

    python bench/ingest.py                 # the first 1,000 SciFact documents (about 4 min on 2 cores)
    python bench/ingest.py --limit 0       # the whole corpus (5,183 documents; about 20 min)
    python bench/ingest.py --limit 100     # a smoke run

Measured in one process with one embedder, loaded and warmed up first (load time is excluded):

  (a) model on documents: LocalMiniLM.embed(title + "\\n" + text) for every document
      (truncated at the model's 256 tokens): "the model alone", the peer baseline;
  (b) model on the pipeline's chunks: the same embedder on exactly the texts the pipeline
      embeds (the Workspace's Chunker, chunk.context_text(title)): the pipeline's own model cost;
  (c) the pipeline: Workspace(tmp).ingest_records(records), wall clock, with its time split
      (chunking, embedding, SQLite writes, ...) taken by wrapping methods in this script;
  (d) the no-op re-index: ingest_records of the same records again, every record unchanged.

Shared machines drift (the same embed call can take twice as long a minute later), so the
documents are taken in rounds of --round-docs (500, ~930 chunks: more than one of the
pipeline's embedding batches, ingest.batch_chunks): each round runs (a), (b) and (c) on its
slice, in rotating order, and (c) ingests the slice into the same workspace, as a growing
collection would be. Totals are sums over rounds; per-round ratios show the noise.
--round-docs 0 runs each of (a), (b), (c) once over all documents instead.

Ratios: ratio_vs_model_on_same_chunks = (b)/(c) (target >= 1/1.05 = 0.9524: the pipeline's own
overhead at most 5% of the model's time, issue 20); ratio_vs_model_on_docs = (a)/(c). The pipeline embeds
a batch on a worker thread while it writes the one before and reads and chunks the next
(ingest/overlap.py), so
the parts of (c)'s split overlap in time: their shares may add up to more than 100%, and
"other" is what is left of (c) once they are taken out (0 when they overlap). Everything is
written in a temporary directory. A human table goes to stderr; one JSON object is the last
thing on stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from _common import (
    MachineLoad,
    Stopwatch,
    add_data_arg,
    emit,
    environment,
    load_jsonl,
    record_chunk_texts,
    say,
    say_machine_load,
    scifact_paths,
    table,
    timed,
)

from ragwright import Settings, TextRecord, Workspace
from ragwright.ingest import Chunker
from ragwright.models.embedding import LocalMiniLM, make_embedder

TARGET_RATIO = round(1 / 1.05, 4)  # the pipeline's overhead at most 5% of the model's time (issue 20)
SPLIT_ORDER = [
    "chunk (incl. token counting)",
    "  of which token counting",
    "embed",
    "sqlite write",
    "unchanged check (document lookups)",
    "reuse lookup (reusable_vectors)",
    "other (hashing, blocks, vstack, loop)",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(ap)
    ap.add_argument(
        "--limit",
        type=int,
        default=1000,
        help="number of SciFact documents, in corpus order (0 = all 5,183; default 1000)",
    )
    ap.add_argument(
        "--round-docs",
        type=int,
        default=500,
        help="documents per interleaved round of (a), (b), (c) (0 = one round; default 500)",
    )
    ap.add_argument("--graph", default="fused-int8", help="the embedding graph of (a)-(d) (default fused-int8)")
    ap.add_argument("--reindex-repeat", type=int, default=3, help="no-op re-index runs; the median is reported")
    ap.add_argument(
        "--packaged",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="(e): the pipeline again with today's embedding graph (the packaged file), in each round (default on)",
    )
    args = ap.parse_args(argv)

    corpus_path, _ = scifact_paths(args.data)
    docs = load_jsonl(corpus_path, args.limit or None)
    records = [TextRecord(id=str(d["_id"]), title=d.get("title", ""), text=d.get("text", "")) for d in docs]
    settings = Settings()  # the defaults (and RAGWRIGHT_* variables), never a ragwright.toml from the cwd
    embedder = make_embedder(settings.embedding)
    if isinstance(embedder, LocalMiniLM) and args.graph != embedder.graph:
        embedder = LocalMiniLM(embedder.max_tokens, embedder.batch_size, settings.embedding.threads, graph=args.graph)
    if not isinstance(embedder, LocalMiniLM):
        sys.exit("bench/ingest.py measures the local embedder; unset RAGWRIGHT_EMBEDDING__PROVIDER")
    step = args.round_docs if args.round_docs > 0 else len(records)
    rounds = [records[i : i + step] for i in range(0, len(records), step)]
    say(
        f"ingest bench: {len(records):,} SciFact documents in {len(rounds)} round(s), "
        f"{embedder.threads} onnxruntime threads, chunks of {settings.ingest.chunk_tokens} tokens "
        f"(+{settings.ingest.chunk_overlap} overlap)"
    )

    # Load and warm the model: nothing below pays for loading.
    embedder.warm_up()
    packaged = LocalMiniLM(settings.embedding.max_tokens, settings.embedding.batch_size, embedder.threads, "packaged")
    for model in (embedder, packaged) if args.packaged else (embedder,):
        for _ in range(2):
            model.embed([r.title + "\n" + r.text for r in records[:64]])

    # The bench learns each round's chunk texts with another instance's counter: the embedder's own
    # remembers every word it counted, and (c) must meet each round's words as an ingestion does.
    count_tokens = packaged.count_tokens
    chunker = Chunker(count_tokens, settings.ingest.chunk_tokens, settings.ingest.chunk_overlap)

    def chunk_texts(part: list[TextRecord]) -> list[str]:
        """Exactly what Ingestor.ingest_records embeds for new records."""
        return [t for r in part for t in record_chunk_texts(chunker, r)]

    load = MachineLoad()
    totals = {"a": 0.0, "b": 0.0, "c": 0.0, "e": 0.0}
    per_round: list[dict[str, float]] = []
    split = {k: 0.0 for k in SPLIT_ORDER}
    chunking_alone = 0.0
    n_chunks = embed_calls = 0
    same_texts = True
    ingest_report = {"ingested": 0, "unchanged": 0, "failed": 0, "chunks": 0}
    doc_tokens: list[int] = []
    chunk_tokens: list[int] = []

    with tempfile.TemporaryDirectory(prefix="ragwright-bench-ingest-") as tmp:
        ws = Workspace(Path(tmp) / "ws", settings=Settings(), embedder=embedder)
        _ = ws.store  # opening the file and creating the schema is not ingestion
        ws_e = Workspace(Path(tmp) / "ws_packaged", settings=Settings(), embedder=packaged)
        _ = ws_e.store
        try:
            for i, part in enumerate(rounds):
                doc_texts = [r.title + "\n" + r.text for r in part]
                t_chunk, texts = timed(partial(chunk_texts, part))
                chunking_alone += t_chunk
                n_chunks += len(texts)
                doc_tokens += count_tokens(doc_texts)
                chunk_tokens += count_tokens(texts)
                seen: list[str] = []
                watch = Stopwatch()
                steps: dict[str, Callable[[], float]] = {
                    # partial binds this round's values now: a lambda would read the loop's variables late
                    "a": partial(_seconds, embedder.embed, doc_texts),
                    "b": partial(_seconds, embedder.embed, texts),
                    "c": partial(pipeline, ws, part, watch, seen, ingest_report),
                    "e": partial(_seconds, ws_e.ingest_records, part),  # today's graph, its own workspace
                }
                steps_run = "abce" if args.packaged else "abc"
                order = steps_run[i % len(steps_run) :] + steps_run[: i % len(steps_run)]
                got = {k: steps[k]() for k in order}
                for k, v in got.items():
                    totals[k] += v
                for k, v in _split(watch, got["c"]).items():
                    split[k] += v
                embed_calls += watch.calls.get("embed", 0)
                same_texts &= sorted(seen) == sorted(texts)
                per_round.append(
                    {
                        "docs": len(part),
                        "chunks": len(texts),
                        "order": order,
                        **{f"{k}_s": round(v, 3) for k, v in got.items()},
                        "b_over_c": round(got["b"] / got["c"], 4),
                        "embed_in_c_s": round(watch.seconds.get("embed", 0.0), 3),
                        "embed_calls_in_c": watch.calls.get("embed", 0),
                    }
                )
                say(
                    f"round {i + 1}/{len(rounds)} ({order}): {len(part)} docs, {len(texts)} chunks; "
                    f"a {got['a']:.2f}s  b {got['b']:.2f}s  c {got['c']:.2f}s  b/c {got['b'] / got['c']:.3f}"
                    + (f"  e (today's graph) {got['e']:.2f}s  e/c {got['e'] / got['c']:.2f}" if "e" in got else "")
                )

            # (d) the same records again, all unchanged: hashing and one lookup per record.
            reindex_runs = []
            for _ in range(max(1, args.reindex_repeat)):
                watch = Stopwatch()
                holder: dict = {}
                seconds = pipeline(ws, records, watch, [], holder)
                reindex_runs.append((seconds, holder, _split(watch, seconds), watch.calls.get("embed", 0)))
            reindex_runs.sort(key=lambda r: r[0])
            re_s, re_report, re_split, re_calls = reindex_runs[len(reindex_runs) // 2]
            stats = ws.store.stats()
        finally:
            ws_e.close()
            ws.close()
    machine = load.report()

    if not same_texts:
        say("WARNING: the pipeline embedded other texts than (b): the comparison is not like for like")
    a_s, b_s, c_s = totals["a"], totals["b"], totals["c"]
    n_docs = len(records)
    round_ratios = [r["b_over_c"] for r in per_round]
    out = {
        "benchmark": "ingest",
        "dataset": "scifact",
        "docs": n_docs,
        "chunks": n_chunks,
        "avg_chunks_per_doc": round(n_chunks / max(n_docs, 1), 3),
        "docs_over_model_window": sum(1 for n in doc_tokens if n + 2 > embedder.max_tokens),
        "avg_tokens_per_doc": round(float(np.mean(doc_tokens)), 1),
        "avg_tokens_per_chunk": round(float(np.mean(chunk_tokens)), 1),
        "settings": {
            "chunk_tokens": settings.ingest.chunk_tokens,
            "chunk_overlap": settings.ingest.chunk_overlap,
            "max_tokens": embedder.max_tokens,
            "batch_size": embedder.batch_size,
            "threads": embedder.threads,
            "batch_chunks": getattr(settings.ingest, "batch_chunks", None),
        },
        "rounds": len(rounds),
        "round_docs": step,
        "model_on_docs": {"seconds": round(a_s, 3), "docs_per_s": round(n_docs / a_s, 2)},
        "model_on_same_chunks": {
            "seconds": round(b_s, 3),
            "docs_per_s": round(n_docs / b_s, 2),
            "chunks_per_s": round(n_chunks / b_s, 2),
            "same_texts_as_pipeline": same_texts,
        },
        "pipeline": {
            "seconds": round(c_s, 3),
            "docs_per_s": round(n_docs / c_s, 2),
            "chunks_per_s": round(n_chunks / c_s, 2),
            "report": ingest_report,
            "split_s": {k: round(v, 3) for k, v in split.items()},
            "embed_calls": embed_calls,
            "store_after": stats,
        },
        "pipeline_packaged_graph": {
            "seconds": round(totals["e"], 3),
            "docs_per_s": round(n_docs / totals["e"], 2),
            "fused_speedup": round(totals["e"] / c_s, 3),
        }
        if args.packaged
        else None,
        "issue20_target_docs_per_s": 25.0,
        "chunking_alone_s": round(chunking_alone, 3),
        "reindex_unchanged": {
            "seconds": round(re_s, 4),
            "docs_per_s": round(n_docs / re_s, 1),
            "vs_pipeline": round(re_s / c_s, 5),
            "unchanged": re_report["unchanged"],
            "ingested": re_report["ingested"],
            "embed_calls": re_calls,
            "runs_s": [round(r[0], 4) for r in sorted(reindex_runs, key=lambda r: r[0])],
            "split_s": {k: round(v, 4) for k, v in re_split.items()},
        },
        "ratio_vs_model_on_same_chunks": round(b_s / c_s, 4),
        "ratio_vs_model_on_same_chunks_per_round": {
            "median": round(statistics.median(round_ratios), 4),
            "min": min(round_ratios),
            "max": max(round_ratios),
        },
        "ratio_vs_model_on_docs": round(a_s / c_s, 4),
        "embed_inside_pipeline_vs_model_on_same_chunks": round(split["embed"] / b_s, 4),
        "target_ratio_vs_model_on_same_chunks": TARGET_RATIO,
        "target_met": b_s / c_s >= TARGET_RATIO,
        "per_round": per_round,
        "machine_load": machine,
        "environment": environment(),
    }

    say("")
    say(
        table(
            [
                ["(a) model on documents", n_docs, "", round(a_s, 2), round(n_docs / a_s, 2), "", round(a_s / c_s, 3)],
                [
                    "(b) model on pipeline chunks",
                    n_docs,
                    n_chunks,
                    round(b_s, 2),
                    round(n_docs / b_s, 2),
                    round(n_chunks / b_s, 2),
                    round(b_s / c_s, 3),
                ],
                [
                    "(c) Workspace.ingest_records",
                    n_docs,
                    n_chunks,
                    round(c_s, 2),
                    round(n_docs / c_s, 2),
                    round(n_chunks / c_s, 2),
                    1.0,
                ],
                *(
                    [
                        [
                            "(e) ingest_records, today's graph",
                            n_docs,
                            n_chunks,
                            round(totals["e"], 2),
                            round(n_docs / totals["e"], 2),
                            round(n_chunks / totals["e"], 2),
                            round(totals["e"] / c_s, 3),
                        ]
                    ]
                    if args.packaged
                    else []
                ),
                [
                    "(d) re-index, all unchanged",
                    n_docs,
                    0,
                    round(re_s, 3),
                    round(n_docs / re_s, 1),
                    "",
                    round(re_s / c_s, 5),
                ],
            ],
            ["run", "docs", "chunks", "seconds", "docs/s", "chunks/s", "time / (c)"],
        )
    )
    say("")
    say(
        table(
            [[k, round(v, 3), f"{100 * v / c_s:.1f}%"] for k, v in split.items()],
            ["pipeline (c) part", "seconds", "share of (c)"],
        )
    )
    say("")
    verdict = "MET" if out["target_met"] else "NOT MET"
    say(
        f"chunks: {n_chunks:,} ({n_chunks / n_docs:.2f} per document); "
        f"ratio_vs_model_on_same_chunks = {b_s / c_s:.3f} (target >= {TARGET_RATIO}: {verdict}; per round: "
        f"median {statistics.median(round_ratios):.3f}, {min(round_ratios):.3f}..{max(round_ratios):.3f}); "
        f"ratio_vs_model_on_docs = {a_s / c_s:.3f}"
    )
    say(
        f"pipeline {n_docs / c_s:.2f} docs/s (issue 20 target >= 25: {'MET' if n_docs / c_s >= 25 else 'NOT MET'})"
        + (f"; today's graph {n_docs / totals['e']:.2f} docs/s, x{totals['e'] / c_s:.2f}" if args.packaged else "")
    )
    say_machine_load(machine, steal=True)
    emit(out)
    return 0


def pipeline(ws: Workspace, records: list[TextRecord], watch: Stopwatch, seen: list[str], report_out: dict) -> float:
    """(c): Workspace.ingest_records, timed as a whole and, by wrapping methods, in parts."""
    embedder = ws.embedder
    inner = embedder.embed

    def recording_embed(texts):
        seen.extend(texts)
        return inner(texts)

    embedder.embed = watch.wrap("embed", recording_embed)  # type: ignore[method-assign]
    try:
        with (
            watch.patch(Chunker, "chunk", "chunk (incl. token counting)"),
            watch.patch(embedder, "count_tokens", "  of which token counting"),
            watch.patch(ws.store, "write_documents", "sqlite write"),
            watch.patch(ws.store, "get_document", "unchanged check (document lookups)"),
            watch.patch(ws.store, "document_by_source", "unchanged check (document lookups)"),
            watch.patch(ws.store, "reusable_vectors", "reuse lookup (reusable_vectors)"),
        ):
            seconds, report = timed(lambda: ws.ingest_records(records))
    finally:
        del embedder.embed
    for key, value in (
        ("ingested", report.ingested),
        ("unchanged", report.unchanged),
        ("failed", len(report.failed)),
        ("chunks", report.chunks),
    ):
        report_out[key] = report_out.get(key, 0) + value
    return seconds


def _seconds(fn: Callable[[list[str]], object], texts: list[str]) -> float:
    """Wall seconds of fn(texts): (a) and (b) time the bare embedder this way."""
    return timed(partial(fn, texts))[0]


def _split(watch: Stopwatch, total: float) -> dict[str, float]:
    parts = dict(watch.seconds)
    counted = sum(v for k, v in parts.items() if not k.startswith("  "))
    parts["other (hashing, blocks, vstack, loop)"] = max(total - counted, 0.0)
    return {k: parts.get(k, 0.0) for k in SPLIT_ORDER}


if __name__ == "__main__":
    sys.exit(main())
