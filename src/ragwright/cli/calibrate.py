"""`ragwright calibrate`: the refusal threshold of this workspace (generate/calibration.py).

Without --data it measures again how the corpus scores the off-topic probes and prints the
threshold. With --data DIR it also tunes the margin on a labelled set: DIR/questions.jsonl, one
JSON object a line with "question" and either "answerable" (true/false) or "kind" ("off_topic"
for a question the documents cannot answer, anything else for one they can), the layout of
pgdocs-qa. The questions are asked against this workspace's documents (ingest them first); the
margin kept is the one that refuses the most off-topic questions while wrongly refusing at most
--max-wrong of the answerable ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..generate.calibration import Labelled, tune
from .common import ConfigFile, DataDir, Json, emit, err, out, workspace


def load_labelled(folder: Path) -> list[tuple[str, bool]]:
    path = folder / "questions.jsonl" if folder.is_dir() else folder
    if not path.is_file():
        raise ValueError(f"{path} not found: --data takes a folder holding questions.jsonl (or the file itself)")
    rows: list[tuple[str, bool]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row: dict[str, Any] = json.loads(line)
        if "question" not in row or ("answerable" not in row and "kind" not in row):
            raise ValueError(f'{path}:{n}: each line needs "question" and "answerable" or "kind"')
        rows.append((row["question"], bool(row["answerable"]) if "answerable" in row else row["kind"] != "off_topic"))
    return rows


def calibrate(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="Folder with questions.jsonl, labelled answerable or off-topic, to tune the margin on"
        ),
    ] = None,
    max_wrong: Annotated[float, typer.Option(help="Share of answerable questions that may be refused")] = 0.05,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Measure the refusal threshold on this corpus (and tune it on a labelled set with --data)."""
    with workspace(data_dir, config) as ws:
        before = ws.calibration(refresh=True)
        if before is None:
            raise ValueError("nothing is ingested yet: calibrate after `ragwright ingest`")
        report: dict[str, Any] = {
            "threshold": before.threshold,
            "probe_quantile": before.probe_quantile,
            "margin": before.margin,
            "chunks": before.chunks,
        }
        if data is not None:
            rows = load_labelled(data)
            cases = []
            sure = before.thresholds.chunk_sure
            for question, answerable in rows:
                verdict = ws.refusal_check(question)
                cases.append(
                    Labelled(
                        answerable,
                        verdict.similarity if verdict.similarity is not None else -1.0,
                        verdict.refuse,
                        sure is not None and (verdict.chunk or 0.0) >= sure,
                    )
                )
            tuned = tune(cases, before.probe_quantile, max_wrong)
            after = ws.set_refusal_margin(tuned["margin"])
            report = {
                **report,
                "tuned": tuned,
                "threshold": after.threshold if after else tuned["threshold"],
                "margin": tuned["margin"],
                "threshold_before": before.threshold,
            }
    if as_json:
        emit(report)
        return
    out.print(
        f"refusal threshold {report['threshold']:.3f} (probes' p90 {before.probe_quantile:.3f} + margin "
        f"{report['margin']}, over {before.chunks} chunks)"
    )
    if data is not None:
        t = report["tuned"]
        err.print(
            f"tuned on {t['answerable']} answerable and {t['off_topic']} off-topic questions: "
            f"{100 * t['off_topic_refused']:.0f}% of off-topic refused, {100 * t['answerable_refused']:.0f}% "
            f"of answerable refused (was threshold {report['threshold_before']:.3f})"
        )
