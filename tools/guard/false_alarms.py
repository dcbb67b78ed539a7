"""Compare injection-training variants on the grouped CV and on false alarms the CV cannot see.

    python -m tools.guard.false_alarms --data ../shared/data [--extra tools/guard/data/x.jsonl ...]

For each variant (the shipped negatives, then the shipped ones plus each --extra file):
- grouped CV (tools/guard/groups.py), thresholds chosen on its out-of-fold scores as training does:
  direct accuracy / precision / recall with rules, and retrieved recall / FPR on held-out
  hand-written passages;
- a model trained on everything, at those thresholds, on texts never trained on: paragraphs of the
  bundled sample corpus (examples/sample-corpus, *.md and *.txt, as retrieved chunks), benign
  statements (pii/dev.jsonl) as user messages, SciFact and PubMedQA passages as retrieved chunks.
Why: the guard's false alarms on ordinary documents ("On day one you meet your buddy...") come from
second-person prose, which no benign training text has; a variant is kept only if the grouped CV
recall does not drop.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.guard.injection import FeatureConfig

from . import train_injection as T
from .groups import near_duplicate_groups

SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "examples" / "sample-corpus"


def sample_paragraphs(folder: Path = SAMPLE_CORPUS) -> list[str]:
    """Paragraphs of 40+ characters of the sample corpus's Markdown and text files."""
    out = []
    for p in sorted(folder.glob("*")):
        if p.suffix in (".md", ".txt"):
            out += [x.strip() for x in p.read_text(encoding="utf-8").split("\n\n") if len(x.strip()) >= 40]
    return out


def check_sets(data: Path, n: int = 500) -> dict[str, tuple[list[str], str]]:
    def jl(path: Path, key: str) -> list[str]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n] if line.strip()]
        return [str(r[key])[:1200] for r in rows]

    return {
        "sample corpus paragraphs": (sample_paragraphs(), "retrieved"),
        "benign statements (pii dev)": (jl(data / "pii" / "dev.jsonl", "text"), "user"),
        "scifact": (jl(data / "scifact" / "corpus.jsonl", "text"), "retrieved"),
        "pubmedqa": (jl(data / "pubmedqa" / "corpus.jsonl", "text"), "retrieved"),
    }


def variant(
    texts: list[str],
    y: np.ndarray,
    passages: list[str],
    questions: list[str],
    groups: np.ndarray,
    checks: dict[str, tuple[list[str], str]],
    repeats: int,
) -> dict[str, Any]:
    feats = T.Features(FeatureConfig())
    cv = T.cross_validate(texts, y, feats, T.C_DEFAULT, passages, questions, 5, repeats, T.SEED, groups=groups)
    ev = T.evaluate(cv)
    scorer = T.train(texts, y, feats, T.C_DEFAULT, passages + questions)
    thr = {src: ev["thresholds"][src]["with_rules"] for src in ("user", "retrieved")}
    rates = {}
    for name, (items, src) in checks.items():
        scores = T.with_rules(scorer(items, src), items)
        rates[name] = round(float((scores >= thr[src]).mean()), 4)
    u, r = ev["user"]["with_rules"], ev["retrieved"]["with_rules"]
    return {
        "thresholds": thr,
        "direct": {k: round(u[k]["mean"], 4) for k in ("accuracy", "precision", "recall")},
        "retrieved": {k: round(r[k]["mean"], 4) for k in ("recall", "false_positive_rate")},
        "flagged": rates,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--extra", type=Path, nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    texts, y = T.load_jsonl(args.data / "injection" / "train.jsonl")
    passages, questions = T.load_negatives()
    groups = near_duplicate_groups(texts)
    checks = check_sets(args.data)
    out = {"shipped negatives": variant(texts, y, passages, questions, groups, checks, args.repeats)}
    for extra in args.extra:
        p, q = T.load_negatives(extra)
        out[f"+ {extra.name}"] = variant(texts, y, passages + p, questions + q, groups, checks, args.repeats)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
