"""Wrong refusals on collections where every question is answerable: SciFact and PubMedQA.

    python bench/refusals.py [--data DIR] [--index-dir DIR] [--split test|train] [--datasets scifact,pubmedqa,pgdocs]

Every SciFact claim and PubMedQA question of these splits has its evidence in the corpus (qrels),
so a refusal there is always wrong. In one run, on one workspace per collection (built from its
corpus in a temporary directory, or kept in --index-dir/<name> and reused), every question goes
through:
- `today`: the answerer before issue 17 (bench/_answers_legacy.py: refused under a fixed cosine
  of 0.35), on the same retrieval;
- `new`: `Workspace.ask` as shipped, its refusal calibrated for this workspace;
and the new answerer's refusals are sorted by the rule that refused (a name no passage mentions,
too little similarity, ...), from the reason it gives.

`--split test` (default) measures; `--split train` gives the questions to tune on instead: SciFact's
train claims (queries_train.jsonl) and PubMedQA's rows of answers.jsonl outside the test split.
`pgdocs` (pgdocs-qa, off by default) adds its off-topic questions, which must be refused: the
refusals of bench/answers_realdocs.py without the answer grading.

Prints a table to stderr and one JSON object, last, to stdout.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, MachineLoad, emit, environment, load_jsonl, say, table
from answers_realdocs import legacy

from ragwright import Settings, Workspace
from ragwright.ingest import TextRecord

# The rule behind a refusal, from the start of its reason (generate/refusal.py).
RULES = (
    ("no passage mentions", "name"),
    ("the question is about", "private"),
    ("the passages hold too few", "coverage"),
    ("the closest passage", "threshold"),
    ("no indexed passage", "empty"),
)


@dataclass(slots=True)
class Collection:
    name: str
    questions: list[tuple[str, str, bool]]  # (id, question, answerable)
    records: Iterator[TextRecord] | None = None  # a BEIR corpus
    folder: Path | None = None  # files to ingest (pgdocs-qa)


def beir_records(path: Path) -> Iterator[TextRecord]:
    for row in load_jsonl(path):
        yield TextRecord(id=str(row["_id"]), text=row.get("text") or "", title=row.get("title") or "")


def scifact(data: Path, split: str) -> Collection:
    folder = data / "scifact"
    qrels = {line.split("\t")[0] for line in (folder / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]}
    queries = load_jsonl(folder / ("queries.jsonl" if split == "test" else f"queries_{split}.jsonl"))
    rows = [(str(q["_id"]), q["text"], True) for q in queries if str(q["_id"]) in qrels]
    return Collection("scifact", rows, beir_records(folder / "corpus.jsonl"))


def pubmedqa(data: Path, split: str) -> Collection:
    folder = data / "pubmedqa"
    if split == "test":
        rows = [(str(q["_id"]), q["text"], True) for q in load_jsonl(folder / "queries.jsonl")]
    else:  # the labelled rows outside the test split: for tuning
        rows = [
            (str(a["_id"]), a["question"], True) for a in load_jsonl(folder / "answers.jsonl") if a["split"] != "test"
        ]
    return Collection("pubmedqa", rows, beir_records(folder / "corpus.jsonl"))


def pgdocs(data: Path, split: str) -> Collection:
    folder = data / "pgdocs-qa"
    rows = [(q["id"], q["question"], q["kind"] != "off_topic") for q in load_jsonl(folder / "questions.jsonl")]
    return Collection("pgdocs", rows, folder=folder / "corpus")


LOADERS = {"scifact": scifact, "pubmedqa": pubmedqa, "pgdocs": pgdocs}


def rule_of(reason: str | None) -> str:
    return next((rule for start, rule in RULES if (reason or "").startswith(start)), "other")


def measure(c: Collection, index_dir: Path | None, limit: int) -> dict[str, Any]:
    holder = nullcontext(str(index_dir / c.name)) if index_dir else tempfile.TemporaryDirectory()
    with holder as data_dir:
        ws = Workspace(settings=Settings(data_dir=Path(data_dir)))
        ws.embedder.warm_up()
        t0 = time.perf_counter()
        report = ws.ingest([c.folder]) if c.folder else ws.ingest_records(c.records or iter(()))
        say(f"{c.name}: {report.ingested} ingested, {report.unchanged} unchanged in {time.perf_counter() - t0:.1f} s")
        calibration = ws.calibration(refresh=True)
        assert calibration is not None
        today = legacy(ws)
        rows = []
        for qid, question, answerable in c.questions[: limit or None]:
            old, new = today(question), ws.ask(question)
            rows.append(
                {
                    "id": qid,
                    "question": question,
                    "answerable": answerable,
                    "today_refused": old.abstained,
                    "new_refused": new.abstained,
                    "rule": rule_of(new.reason) if new.abstained else None,
                    "reason": new.reason,
                }
            )
        ws.close()
    return {
        "calibration": {"threshold": calibration.threshold, "probe_quantile": calibration.probe_quantile},
        "summary": summarise(rows),
        "questions": rows,
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    off = [r for r in rows if not r["answerable"]]
    return {
        "answerable": len(answerable),
        "today_refused": sum(r["today_refused"] for r in answerable),
        "new_refused": sum(r["new_refused"] for r in answerable),
        "new_by_rule": dict(Counter(r["rule"] for r in answerable if r["new_refused"])),
        "off_topic": len(off),
        "today_off_topic_refused": sum(r["today_refused"] for r in off),
        "new_off_topic_refused": sum(r["new_refused"] for r in off),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding scifact/, pubmedqa/, pgdocs-qa/")
    ap.add_argument("--index-dir", type=Path, help="keep each collection's index in DIR/<name> and reuse it")
    ap.add_argument("--split", default="test", choices=("test", "train"), help="train: the questions to tune on")
    ap.add_argument("--datasets", default="scifact,pubmedqa", help="comma-separated: scifact, pubmedqa, pgdocs")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions of each (0: all)")
    args = ap.parse_args()
    load = MachineLoad()
    results = {}
    for name in args.datasets.split(","):
        results[name] = measure(LOADERS[name](args.data, args.split), args.index_dir, args.limit)
    print_table(results)
    emit(
        {
            "benchmark": "refusals",
            "split": args.split,
            "datasets": results,
            "machine_load": load.report(),
            "environment": environment(),
        }
    )


def print_table(results: dict[str, dict[str, Any]]) -> None:
    lines = []
    for name, r in results.items():
        s = r["summary"]
        rules = ", ".join(f"{k} {v}" for k, v in sorted(s["new_by_rule"].items())) or "-"
        off = f"{s['today_off_topic_refused']}/{s['off_topic']}" if s["off_topic"] else ""
        new_off = f"{s['new_off_topic_refused']}/{s['off_topic']}" if s["off_topic"] else ""
        lines.append(
            [
                name,
                s["answerable"],
                s["today_refused"],
                s["new_refused"],
                rules,
                off,
                new_off,
                r["calibration"]["threshold"],
            ]
        )
    say()
    header = [
        "dataset",
        "answerable",
        "refused today",
        "refused new",
        "new: by rule",
        "off-topic today",
        "off-topic new",
        "threshold",
    ]
    say(table(lines, header))


if __name__ == "__main__":
    main()
