"""The answer a user reads, on real documentation: pgdocs-qa (175 pages of the PostgreSQL 15
manual, 60 answerable questions with regex checks, 15 off-topic ones).

    python bench/answers_realdocs.py [--data ../shared/data/pgdocs-qa] [--index-dir DIR] [--no-local-model]
                                     [--dump FILE] [--retrievals FILE]

In one run, on one index (built in a temporary directory, or kept in --index-dir and brought up
to date there), every question goes through:
- `today`: the extractive answerer as it was before issue 17 (bench/_answers_legacy.py, a frozen
  copy: every sentence of the top chunks embedded, the nearest ones kept, refused under a fixed
  cosine of 0.35) on the same retrieval. Only the answer stage is frozen, so the comparison shows
  what the answer stage does; ingestion and retrieval are the current code's in both.
- `new`: `Workspace.ask` as shipped (extractive, refusal calibrated for this workspace).
- `local-model`: `Workspace.ask` with the bundled SmolLM2 generating ([models.local]), when its
  packages are installed, on --local-questions of them spread over the set (`--no-local-model`
  skips it); a question whose model fails or times out counts as an error.
and `search`: `Workspace.search(q, k=context_chunks)`, the retrieval alone, for the latency ratio.

Each question goes through the pipelines and the search in turn, the order rotating from one
question to the next. Scored as the data's README says: correct = every check matches the
answer; partial = some do; wrong = none; refused = the system's own abstain flag. Also: the
first citation on the page the question was written from, answer length in words, latency per
question. Searches, asks and the
legacy answers each start with the embedder's remembered vectors dropped, so none is timed on a
query vector another one left behind.

`--retrievals FILE` measures the answer stage alone, to iterate on the reader in seconds: each
question's retrieval is read from FILE (a pickle this option wrote on its first run, from this
index: delete it when ingestion or retrieval changes) and answered extractively as `Workspace.ask`
answers it; `today`, the local model and latency are not measured then.

Prints a table to stderr and one JSON object, last, to stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _answers_legacy import legacy_answer
from _common import DEFAULT_DATA, MachineLoad, emit, environment, percentiles_ms, say, table

from ragwright import Settings, Workspace
from ragwright.models.embedding import recall_scope
from ragwright.types import Answer

TARGETS = {
    "correct_share": 0.80,
    "off_topic_refused_share": 0.90,
    "answerable_refused_share_max": 0.05,
    "ask_over_search_p50_max": 3.0,
}


def load_questions(folder: Path) -> list[dict[str, Any]]:
    path = folder / "questions.jsonl"
    if not path.is_file() or not (folder / "corpus").is_dir():
        sys.exit(f"bench: {path} or {folder / 'corpus'} not found; point --data at the pgdocs-qa folder")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def grade(row: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """One answer, scored as the data's README says."""
    words = len(re.findall(r"\w+", answer.answer)) if not answer.abstained else 0
    first = answer.citations[0].source.rsplit("/", 1)[-1] if answer.citations else None
    out = {
        "id": row["id"],
        "kind": row["kind"],
        "refused": answer.abstained,
        "words": words,
        "first_citation": first,
        "answer": answer.answer,
        "reason": answer.reason,
    }
    if row["kind"] == "off_topic":
        out["outcome"] = "refused_right" if answer.abstained else "answered_off_topic"
        return out
    matched = 0 if answer.abstained else sum(bool(re.search(c, answer.answer, re.IGNORECASE)) for c in row["check"])
    out["outcome"] = (
        "refused_wrong"
        if answer.abstained
        else "correct"
        if matched == len(row["check"])
        else "partial"
        if matched
        else "wrong"
    )
    out["citation_on_page"] = first == row["source"]
    return out


def failed(row: dict[str, Any], exc: Exception) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "refused": False,
        "words": 0,
        "first_citation": None,
        "answer": "",
        "reason": f"{type(exc).__name__}: {exc}"[:300],
        "outcome": "error",
    }


def summarise(graded: list[dict[str, Any]], seconds: list[float]) -> dict[str, Any]:
    answerable = [g for g in graded if g["kind"] != "off_topic"]
    off = [g for g in graded if g["kind"] == "off_topic"]
    count = lambda rows, o: sum(g["outcome"] == o for g in rows)  # noqa: E731
    answered = [g for g in answerable if not g["refused"] and g["outcome"] != "error"]
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for g in answerable:
        kinds[g["kind"]][0] += g["outcome"] == "correct"
        kinds[g["kind"]][1] += 1
    words = sorted(g["words"] for g in answered) or [0]
    return {
        "answerable": len(answerable),
        "correct": count(answerable, "correct"),
        "partial": count(answerable, "partial"),
        "wrong": count(answerable, "wrong"),
        "refused_wrong": count(answerable, "refused_wrong"),
        "off_topic": len(off),
        "refused_right": count(off, "refused_right"),
        "answered_off_topic": count(off, "answered_off_topic"),
        "errors": count(graded, "error"),
        "correct_share": round(count(answerable, "correct") / max(len(answerable), 1), 3),
        "off_topic_refused_share": round(count(off, "refused_right") / max(len(off), 1), 3),
        "answerable_refused_share": round(count(answerable, "refused_wrong") / max(len(answerable), 1), 3),
        "first_citation_on_page": sum(bool(g.get("citation_on_page")) for g in answered),
        "answered": len(answered),
        "words_median": words[len(words) // 2],
        "words_max": words[-1],
        "per_kind": {k: f"{c}/{n}" for k, (c, n) in sorted(kinds.items())},
        "latency_ms": percentiles_ms(seconds),
    }


def forget(ws: Workspace) -> None:
    """Drop the vectors the last pass left in memory (query vectors in the embedder, sentence
    vectors of the evidence stage), so that no pass is timed on another's work. The retriever
    embeds a query in the reader's own recall scope, so a scope alone would not keep passes apart."""
    from ragwright.generate import evidence

    getattr(ws.embedder, "_recent", {}).clear()
    evidence._recent.clear()


def run(
    rows: list[dict[str, Any]], pipelines: dict[str, Callable[[str], Answer]], ws: Workspace, k: int
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Every question through every pipeline and through search, interleaved (the order rotates
    from one question to the next) so that a machine's changing load weighs on all alike."""
    graded: dict[str, list[dict[str, Any]]] = {name: [] for name in pipelines}
    seconds: dict[str, list[float]] = {name: [] for name in [*pipelines, "search"]}
    steps: list[tuple[str, Callable[[str], Any]]] = [*pipelines.items(), ("search", lambda q: ws.search(q, k=k))]
    for n, row in enumerate(rows):
        for name, call in steps[n % len(steps) :] + steps[: n % len(steps)]:
            forget(ws)
            with recall_scope(f"bench-{name}"):
                t0 = time.perf_counter()
                try:
                    result = call(row["question"])
                except Exception as exc:  # a model that fails or times out is counted, not fatal  # noqa: BLE001
                    result = exc
                seconds[name].append(time.perf_counter() - t0)
            if name != "search":
                graded[name].append(failed(row, result) if isinstance(result, Exception) else grade(row, result))
    out = {name: {"summary": summarise(graded[name], seconds[name]), "questions": graded[name]} for name in pipelines}
    return out, percentiles_ms(seconds["search"])


def legacy(ws: Workspace) -> Callable[[str], Answer]:
    retriever = ws._retriever()
    k = max(ws.settings.answer.context_chunks, 1)

    def answer(question: str) -> Answer:
        retrieval = retriever.search(question, k)
        return legacy_answer(question, retrieval.results, retrieval.query_vector, ws.embedder)

    return answer


def local_model_available() -> bool:
    """Its weights and its server are installed (the weights' package is found, not imported)."""
    from ragwright.errors import ConfigError
    from ragwright.models.local_server import smollm2_path

    try:
        import llama_cpp  # noqa: F401

        smollm2_path()
    except (ImportError, ConfigError):
        return False
    return True


def local_workspace(ws: Workspace) -> Workspace:
    settings = ws.settings.model_copy(deep=True)
    settings.models = {"local": settings.models.get("local") or _local_model_settings()}
    settings.answer = settings.answer.model_copy(update={"model": "local"})
    return Workspace(settings=settings, embedder=ws.embedder)


def _local_model_settings() -> Any:
    from ragwright.config import ModelSettings

    return ModelSettings(provider="local", model="smollm2-135m")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "pgdocs-qa", help="the pgdocs-qa folder")
    ap.add_argument("--index-dir", type=Path, help="keep the index here and reuse it (brought up to date)")
    ap.add_argument("--no-local-model", action="store_true", help="skip the generated answers of the local model")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions (0: all)")
    ap.add_argument(
        "--local-questions",
        type=int,
        default=15,
        help="questions for the local model, evenly spread over the set (0: all); a CPU generates slowly",
    )
    ap.add_argument("--dump", type=Path, help="write each question's answer, checks and citations here (JSON lines)")
    ap.add_argument(
        "--retrievals", type=Path, help="the answer stage alone, on retrievals kept in FILE (written on first use)"
    )
    args = ap.parse_args()
    rows = load_questions(args.data)[: args.limit or None]
    load = MachineLoad()
    holder = nullcontext(str(args.index_dir)) if args.index_dir else tempfile.TemporaryDirectory()
    with holder as data_dir:
        ws = Workspace(settings=Settings(data_dir=Path(data_dir)))
        ws.embedder.warm_up()
        t0 = time.perf_counter()
        report = ws.ingest([args.data / "corpus"])
        ingest_s = time.perf_counter() - t0
        say(
            f"index: {report.ingested} pages ingested, {report.unchanged} unchanged, {ws.store.stats()['chunks']} "
            f"chunks, {ingest_s:.1f} s"
        )
        t0 = time.perf_counter()
        calibration = ws.calibration(refresh=True)
        calibration_s = time.perf_counter() - t0
        say(
            f"calibration: threshold {calibration.threshold:.3f} (probes p90 {calibration.probe_quantile:.3f}, "
            f"max {calibration.probe_max:.3f}, margin {calibration.margin}) in {calibration_s:.1f} s"
        )
        if args.retrievals:
            reader_only(ws, rows, args)
            ws.close()
            return
        k = max(ws.settings.answer.context_chunks, 1)
        for row in rows[:3]:  # warm: indexes built, sessions loaded
            with recall_scope("bench-warm"):
                ws.ask(row["question"])
        pipelines, search = run(rows, {"today": legacy(ws), "new": ws.ask}, ws, k)
        if not args.no_local_model and local_model_available():
            say("local model: generating answers...")
            step = max(1, len(rows) // args.local_questions) if args.local_questions else 1
            with local_workspace(ws) as local:
                pipelines.update(run(rows[::step], {"local-model": local.ask}, ws, k)[0])
        ws.close()
    print_table(pipelines, search)
    if args.dump:
        dump(args.dump, rows, pipelines)
    new = pipelines["new"]["summary"]
    ratio = round(new["latency_ms"]["p50"] / max(search["p50"], 1e-9), 2)
    checks = {
        "correct_share": new["correct_share"] >= TARGETS["correct_share"],
        "off_topic_refused_share": new["off_topic_refused_share"] >= TARGETS["off_topic_refused_share"],
        "answerable_refused_share": new["answerable_refused_share"] <= TARGETS["answerable_refused_share_max"],
        "ask_over_search_p50": ratio <= TARGETS["ask_over_search_p50_max"],
    }
    say(
        f"\nask p50 / search p50 = {ratio} (target <= {TARGETS['ask_over_search_p50_max']}); targets met: "
        + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in checks.items())
    )
    emit(
        {
            "benchmark": "answers_realdocs",
            "dataset": str(args.data),
            "questions": len(rows),
            "index": {"pages": report.ingested + report.unchanged, "ingest_s": round(ingest_s, 1)},
            "calibration": {
                "threshold": calibration.threshold,
                "probe_quantile": calibration.probe_quantile,
                "probe_max": calibration.probe_max,
                "margin": calibration.margin,
                "seconds": round(calibration_s, 2),
            },
            "search_latency_ms": search,
            "ask_over_search_p50": ratio,
            "targets": TARGETS,
            "targets_met": checks,
            "pipelines": pipelines,
            "machine_load": load.report(),
            "environment": environment(),
        }
    )


def reader_only(ws: Workspace, rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The extractive answer stage on retrievals kept on disk (see the module docstring)."""
    import pickle

    path: Path = args.retrievals
    if path.is_file():
        kept = pickle.loads(path.read_bytes())  # a file this bench wrote
    else:
        kept = {row["id"]: ws._retrieve(row["question"], None) for row in rows}
        path.write_bytes(pickle.dumps(kept))
        say(f"retrievals written to {path}")
    graded, seconds = [], []
    for row in rows:
        t0 = time.perf_counter()
        answer = ws._answer(row["question"], kept[row["id"]], None, None, extractive=True)
        seconds.append(time.perf_counter() - t0)  # the answer stage alone: not comparable with an ask
        graded.append(grade(row, answer))
    pipelines = {"reader": {"summary": summarise(graded, seconds), "questions": graded}}
    print_table(pipelines, {})
    if args.dump:
        dump(args.dump, rows, pipelines)
    emit({"benchmark": "answers_realdocs", "mode": "reader-only", "retrievals": str(path), "pipelines": pipelines})


def dump(path: Path, rows: list[dict[str, Any]], pipelines: dict[str, dict[str, Any]]) -> None:
    """One line a question and pipeline: what was asked, what a correct answer must match, the
    outcome, the answer and the pages it cites first; for reading the failures by hand."""
    by_id = {row["id"]: row for row in rows}
    with path.open("w", encoding="utf-8") as out:
        for name, p in pipelines.items():
            for g in p["questions"]:
                row = by_id[g["id"]]
                line = {"pipeline": name, "question": row["question"], "check": row["check"], "source": row["source"]}
                out.write(json.dumps({**line, **g}, ensure_ascii=False) + "\n")
    say(f"answers written to {path}")


def print_table(pipelines: dict[str, dict[str, Any]], search: dict[str, float]) -> None:
    header = [
        "pipeline",
        "correct",
        "partial",
        "wrong",
        "refused (ans.)",
        "off-topic refused",
        "errors",
        "cited page",
        "words p50",
        "p50 ms",
        "p95 ms",
    ]
    lines = []
    for name, p in pipelines.items():
        s = p["summary"]
        lines.append(
            [
                name,
                f"{s['correct']}/{s['answerable']}",
                s["partial"],
                s["wrong"],
                s["refused_wrong"],
                f"{s['refused_right']}/{s['off_topic']}",
                s["errors"],
                f"{s['first_citation_on_page']}/{s['answered']}",
                s["words_median"],
                s["latency_ms"]["p50"],
                s["latency_ms"]["p95"],
            ]
        )
    if search:  # none when only the answer stage was measured (--retrievals)
        lines.append(["search (k=context)", "", "", "", "", "", "", "", "", search["p50"], search["p95"]])
    say()
    say(table(lines, header))
    kinds = sorted({k for p in pipelines.values() for k in p["summary"]["per_kind"]})
    say()
    say(
        table(
            [[name, *(p["summary"]["per_kind"].get(k, "") for k in kinds)] for name, p in pipelines.items()],
            ["correct by kind", *kinds],
        )
    )


if __name__ == "__main__":
    main()
