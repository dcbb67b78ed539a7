"""How safe is the semantic cache? False hits on SciFact's near-identical claims of opposite
meaning, and hits on harmless surface variants, across similarity thresholds, with and without
the signature guard (same content words in the same order, negations and connectives kept).

    python bench/semantic_cache.py [--data ../shared/data]

Every pair of SciFact claims (train + test) with word Jaccard >= 0.5 is a different claim, so any
hit among them is a false hit ("X increases Y" / "X decreases Y", "X is Y" / "X is not Y").
Surface variants of a claim (lower case, a question mark, "Is it true that ...", commas
dropped, extra spaces) should hit. Prints a table to stderr and JSON to stdout.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, emit, environment, load_jsonl, say, table

from ragwright.models.cache import signature
from ragwright.models.embedding import LocalMiniLM

THRESHOLDS = (0.85, 0.90, 0.93, 0.95, 0.97, 0.99)
_WORDS = re.compile(r"\w+")


def variants(claim: str) -> list[str]:
    base = claim.rstrip(".")
    return [
        claim.lower(),
        base + "?",
        "Is it true that " + base[0].lower() + base[1:] + "?",
        claim.replace(",", ""),
        "  " + claim + "  ",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    root = args.data / "scifact"
    files = [root / "queries.jsonl", root / "queries_train.jsonl"]
    if not all(f.is_file() for f in files):
        sys.exit(f"bench: SciFact queries not found under {root}")
    claims = sorted({row["text"] for f in files for row in load_jsonl(f)})
    words = [set(_WORDS.findall(c.lower())) for c in claims]
    pairs = [
        (i, j)
        for i in range(len(claims))
        for j in range(i + 1, len(claims))
        if len(words[i] & words[j]) / len(words[i] | words[j]) >= 0.5
    ]
    model = LocalMiniLM()
    vectors = model.embed(claims)
    sims = np.array([float(vectors[i] @ vectors[j]) for i, j in pairs])
    same = np.array([signature(claims[i]) == signature(claims[j]) for i, j in pairs])
    originals = [c for c in claims[:300] for _ in range(5)]
    changed = [v for c in claims[:300] for v in variants(c)]
    vsims = np.sum(model.embed(changed) * model.embed(originals), axis=1)
    vsame = np.array([signature(a) == signature(b) for a, b in zip(originals, changed, strict=True)])
    rows, result = [], []
    for t in THRESHOLDS:
        entry = {
            "threshold": t,
            "false_hits_similarity_only": int((sims >= t).sum()),
            "false_hits_with_guard": int(((sims >= t) & same).sum()),
            "variant_hit_rate_with_guard": round(float(((vsims >= t) & vsame).mean()), 4),
        }
        result.append(entry)
        rows.append(
            [
                t,
                entry["false_hits_similarity_only"],
                entry["false_hits_with_guard"],
                entry["variant_hit_rate_with_guard"],
            ]
        )
    say(f"{len(pairs)} pairs of near-identical, different SciFact claims; {len(changed)} surface variants")
    say(table(rows, ["threshold", "false hits (similarity only)", "false hits (with guard)", "variant hit rate"]))
    emit(
        {
            "benchmark": "semantic_cache",
            "pairs": len(pairs),
            "variants": len(changed),
            "thresholds": result,
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    main()
