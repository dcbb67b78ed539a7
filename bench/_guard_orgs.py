"""Organisation names before and after guard/orgs.py, for bench/guard.py --only orgs.

The name tagger is cross-validated on template-grouped folds of pii/dev.jsonl (ner_eval's
crossvalidate, the same seed and folds for both), and the whole detector scans the held-out texts
with the legal-form and employer rules off, then on. Scored as the issue scores (same label,
overlapping span) and strictly (exact span), per name type: the rules must raise ORGANIZATION
recall without lowering PERSON precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragwright.guard.pii import PiiDetector
from tools.guard.ner_eval import NAMES, crossvalidate
from tools.guard.train_ner import load_rows


def compare(path: Path, folds: int, seed: int, epochs: int, runs: int) -> dict[str, Any]:
    rows = load_rows(path)
    out: dict[str, Any] = {}
    for name, on in (("without", False), ("with orgs.py", True)):
        cv = crossvalidate(rows, k=folds, seed=seed, epochs=epochs, runs=runs, detector=PiiDetector(organisations=on))
        out[name] = {lab: {"overlap": cv.overlap.prf([lab]), "strict": cv.strict.prf([lab])} for lab in NAMES}
    return out


def rows(result: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            system,
            lab,
            v["overlap"]["precision"],
            v["overlap"]["recall"],
            v["strict"]["precision"],
            v["strict"]["recall"],
        ]
        for system, per in result.items()
        for lab, v in per.items()
    ]


HEADER = ["system", "label", "P overlap", "R overlap", "P strict", "R strict"]
