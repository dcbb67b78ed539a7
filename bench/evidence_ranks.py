"""Where the answer sits in the retrieval, on pgdocs-qa: for each answerable question, the rank of
the first chunk whose text passes all of the question's checks, in the hybrid list (what the
reader gets), in BM25's and in the dense one; the retrieval alone, without the reader.

    python bench/evidence_ranks.py --index-dir DIR [--data ../shared/data/pgdocs-qa] [--depth 100]
                                   [--ids pg-001,pg-044] [--any-page]

bench/answers_realdocs.py scores answers, and an answer can be wrong because the reader chose
badly or because the sentence that answers never reached it; this tells the two apart. A chunk
counts when it is on the page the question was written from (`source`), since a short check
such as "login" matches chunks of other pages that do not answer (--any-page counts those too).
The index is the one bench/answers_realdocs.py keeps with --index-dir, built or brought up to date
here with the current code (so an index made by other code is re-parsed first).

Prints a table to stderr (hits at 1, 3, 5, 10, mean reciprocal rank; the questions whose
answer is not in the top 5) and one JSON object, last, to stdout. Diagnosis only: the checks are
pgdocs-qa's answers, so nothing should be tuned to this figure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, emit, environment, say, table

from ragwright import Settings, Workspace
from ragwright.types import SearchResult

CUTS = (1, 3, 5, 10)


def passes(row: dict[str, Any], result: SearchResult, any_page: bool) -> bool:
    on_page = any_page or result.source.rsplit("/", 1)[-1] == row["source"]
    return on_page and all(re.search(c, result.text, re.IGNORECASE) for c in row["check"])


def ranks(ws: Workspace, row: dict[str, Any], depth: int, any_page: bool) -> dict[str, int | None]:
    """1-based rank of the first passing chunk in each list; None when it is not in the top `depth`."""
    results = ws.search(row["question"], k=2 * depth)
    first = next((r for r in results if passes(row, r, any_page)), None)
    return {
        "hybrid": results.index(first) + 1 if first else None,
        "bm25": first.bm25_rank if first else None,
        "dense": first.dense_rank if first else None,
        "chunk": first.chunk_id if first else None,
    }


def summarise(per: dict[str, dict[str, Any]]) -> dict[str, Any]:
    hybrid = [p["hybrid"] for p in per.values()]
    out: dict[str, Any] = {f"at_{n}": sum(r is not None and r <= n for r in hybrid) for n in CUTS}
    out["mrr"] = round(sum(1 / r for r in hybrid if r) / max(len(hybrid), 1), 3)
    out["missing"] = sum(r is None for r in hybrid)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "pgdocs-qa", help="the pgdocs-qa folder")
    ap.add_argument("--index-dir", type=Path, required=True, help="the index (built or brought up to date here)")
    ap.add_argument("--depth", type=int, default=100, help="candidates of each list, as retrieval takes them")
    ap.add_argument("--ids", default="", help="comma-separated question ids (default: every answerable one)")
    ap.add_argument("--any-page", action="store_true", help="a passing chunk of any page counts")
    args = ap.parse_args()
    rows = [json.loads(line) for line in (args.data / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    wanted = set(filter(None, args.ids.split(",")))
    rows = [r for r in rows if r["kind"] != "off_topic" and (not wanted or r["id"] in wanted)]
    with Workspace(settings=Settings(data_dir=args.index_dir)) as ws:
        report = ws.ingest([args.data / "corpus"])
        say(f"index: {report.ingested} pages ingested, {report.unchanged} unchanged")
        per = {r["id"]: {"kind": r["kind"], **ranks(ws, r, args.depth, args.any_page)} for r in rows}
    summary = summarise(per)
    say(
        table(
            [[summary[f"at_{n}"] for n in CUTS] + [summary["mrr"], summary["missing"]]],
            [*map(str, CUTS), "MRR", "none"],
        )
    )
    low = [
        [q, p["kind"], p["hybrid"], p["bm25"], p["dense"]] for q, p in per.items() if not p["hybrid"] or p["hybrid"] > 5
    ]
    say("\nanswer not in the top 5:")
    say(table(low, ["question", "kind", "hybrid", "bm25", "dense"]))
    emit(
        {
            "benchmark": "evidence_ranks",
            "questions": len(rows),
            "summary": summary,
            "per_question": per,
            "environment": environment(),
        }
    )


if __name__ == "__main__":
    main()
