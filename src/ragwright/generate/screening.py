"""The prompt-injection policy of an ask: the question is checked as a user message (direct
injection), each passage as retrieved text (indirect injection), before anything is put in
front of a model.

    off    nothing is checked
    flag   the answer carries what was flagged (`Answer.guard`); nothing else changes
    block  a flagged question or passage refuses the ask (InjectionBlocked: HTTP 400)
    drop   flagged passages are left out of the context and the answer says which; a flagged
           question is flagged (there is nothing to drop)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InjectionBlocked
from ..observe import span
from ..types import SearchResult


@dataclass(slots=True)
class Screening:
    kept: list[SearchResult]
    report: dict[str, Any] = field(default_factory=dict)  # becomes Answer.guard

    @property
    def note(self) -> str:
        """What the answer says about dropped passages."""
        dropped = self.report.get("dropped", [])
        if not dropped:
            return ""
        where = ", ".join(sorted({d["source"] for d in dropped}))
        return (
            f"({len(dropped)} passage{'s' if len(dropped) > 1 else ''} left out because "
            f"{'they' if len(dropped) > 1 else 'it'} carried instructions to the model: {where})"
        )


def detector() -> Any:
    from ..guard.injection import default_detector

    return default_detector()


def screen(question: str, results: Sequence[SearchResult], policy: str) -> Screening:
    if policy == "off":
        return Screening(list(results))
    with span("guard.injection", policy=policy) as s:
        asked = detector().check(question, "user")
        verdicts = detector().check_many([r.text for r in results], "retrieved") if results else []
        flagged = [_entry(r, v) for r, v in zip(results, verdicts, strict=True) if v.flagged]
        report: dict[str, Any] = {
            "policy": policy,
            "question": {"score": round(asked.score, 4), "flagged": asked.flagged, "reasons": asked.reasons},
            "flagged": flagged,
            "dropped": [],
        }
        s.set(question_flagged=asked.flagged, flagged_chunks=[f["chunk_id"] for f in flagged])
        if policy == "block" and (asked.flagged or flagged):
            what = "the question" if asked.flagged else f"a passage from {flagged[0]['source']}"
            raise InjectionBlocked(
                f"refused: {what} looks like a prompt injection (instructions to the model); "
                "rephrase the question, or ask an administrator about the injection policy"
            )
        kept = list(results)
        if policy == "drop" and flagged:
            dropped_ids = {f["chunk_id"] for f in flagged}
            kept = [r for r in results if r.chunk_id not in dropped_ids]
            report["dropped"] = flagged
        return Screening(kept, report)


def _entry(result: SearchResult, verdict: Any) -> dict[str, Any]:
    return {
        "chunk_id": result.chunk_id,
        "doc_id": result.doc_id,
        "source": result.source,
        "score": round(verdict.score, 4),
        "reasons": verdict.reasons,
    }
