"""Gold answers that come with some datasets, read into one shape: a label per query from a
closed set (PubMedQA's yes/no/maybe, SciFact's SUPPORT/CONTRADICT) and, where there is one, a
reference answer text.

Recognised files in the dataset folder: `answers.jsonl` (rows with `_id` and `final_decision`
or `label`, optional `long_answer` or `reference`, optional `split`) and
`claims_<split>_labels.jsonl` (SciFact: `evidence` {doc: [{"label"}]}); or any such file given
explicitly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .beir import DatasetError

_LABEL_FIELDS = ("final_decision", "label", "answer_label")
_REFERENCE_FIELDS = ("long_answer", "reference", "answer")


@dataclass(slots=True)
class GoldAnswers:
    labels: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    choices: tuple[str, ...] = ()
    no_label: dict[str, str] = field(default_factory=dict)  # query id -> why it has no label
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.labels or self.references)


def find_gold(path: Path, split: str) -> Path | None:
    for name in ("answers.jsonl", f"claims_{split}_labels.jsonl"):
        if (path / name).is_file():
            return path / name
    return None


def load_gold(file: Path, split: str) -> GoldAnswers:
    gold = GoldAnswers(source=str(file))
    with file.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                qid = str(row["_id"])
            except (ValueError, KeyError, TypeError) as exc:
                raise DatasetError(f"{file}:{n}: not an answers line ({exc!r})") from exc
            if row.get("split") not in (None, split):
                continue
            _read_row(gold, qid, row)
    gold.choices = tuple(sorted(set(gold.labels.values())))
    return gold


def _read_row(gold: GoldAnswers, qid: str, row: dict[str, Any]) -> None:
    label = next((row[f] for f in _LABEL_FIELDS if isinstance(row.get(f), str) and row[f]), None)
    if label is None and isinstance(row.get("evidence"), dict):
        found = {
            str(item["label"])
            for items in row["evidence"].values()
            for item in items
            if isinstance(item, dict) and item.get("label") is not None
        }
        if len(found) == 1:
            label = found.pop()
        else:
            gold.no_label[qid] = (
                "the gold evidence has no label (not enough information)"
                if not found
                else f"the gold evidence disagrees ({', '.join(sorted(found))})"
            )
    if label is not None:
        gold.labels[qid] = str(label)
    reference = next((row[f] for f in _REFERENCE_FIELDS if isinstance(row.get(f), str) and row[f].strip()), None)
    if reference is not None:
        gold.references[qid] = reference
