"""The prompt-injection policy of an ask: the question is checked as a user message (direct
injection), each passage as retrieved text (indirect injection), before anything is put in
front of a model. A passage is checked as far as a model is shown it (grounded.build_messages, the
agent's tool results: `[i] (location)` then its text): its text, and its location (file name and
heading path) on its own. Headings are kept apart from the chunk's text (heading_path) and a file
name is the uploader's to choose, so a check of the text alone let an instruction written as a
heading or a file name reach the answer model (review 13). On its own, not in front of the text:
the detector scores a passage by its sentences and joins one of fewer than 4 words to the next,
so a location in front changed the text's first sentence (one of 3,236 sample-corpus and pgdocs
chunks went unflagged, another flagged); alone, no location of theirs (1,332) is flagged, and a
passage shares its document's: a few short checks an ask.

    off    nothing is checked
    flag   the answer carries what was flagged (`Answer.guard`); nothing else changes
    block  a flagged question or passage refuses the ask (InjectionBlocked: HTTP 400)
    drop   flagged passages are left out of the context and the answer says which; a flagged
           question is flagged (there is nothing to drop)

The earlier turns of a conversation that a model reads (the follow-up rewriter's prompt, an
agent's messages: followup.model_turns) are checked as the question is, each on its own
(screen_turns): under block a flagged turn refuses the ask, under drop it is left out. Assistant
turns too: /v1/ask, a rag: chat and MCP take the whole history from the client, so an
"assistant" turn is whatever the caller wrote, and an instruction moved there would pass.
A follow-up's own question is checked (screen) before the rewriter's prompt quotes it, and the
answer's guard keeps that verdict as "asked" beside the rewrite's "question" (review 16, C).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InjectionBlocked
from ..observe import span
from ..types import SearchResult
from .grounded import shown_location


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
        verdicts = _verdicts(results)
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


def _verdicts(results: Sequence[SearchResult]) -> list[Any]:
    """Each passage's verdict: its text's, or its location's when that one is worse (flagged, or
    the higher score). A location is checked once however many passages share it."""
    if not results:
        return []
    places = list(dict.fromkeys(shown_location(r) for r in results))
    checked = detector().check_many([*(r.text for r in results), *places], "retrieved")
    place = dict(zip(places, checked[len(results) :], strict=True))
    return [
        max(text, place[shown_location(r)], key=lambda v: (v.flagged, v.score))
        for r, text in zip(results, checked[: len(results)], strict=True)
    ]


def screen_turns(turns: Sequence[tuple[int, str, str]], policy: str) -> Collection[int]:
    """(index in the history, role, text) of each turn a model reads -> the indices to leave out
    (flagged, under drop); a flagged turn raises InjectionBlocked under block, naming it as
    `history[i]`. Each verdict is a "guard.injection" span of the ask's trace."""
    if policy == "off" or not turns:
        return ()
    verdicts = detector().check_many([text for _, _, text in turns], "user")
    flagged = []
    for (i, role, _), verdict in zip(turns, verdicts, strict=True):
        with span("guard.injection", policy=policy, history=i, role=role) as s:
            s.set(score=round(verdict.score, 4), flagged=verdict.flagged, reasons=list(verdict.reasons))
        if verdict.flagged:
            if policy == "block":
                raise InjectionBlocked(
                    f"refused: an earlier turn of the conversation (history[{i}], {role}) looks like a prompt "
                    "injection (instructions to the model); leave it out, or ask an administrator about the "
                    "injection policy"
                )
            flagged.append(i)
    return flagged if policy == "drop" else ()


def _entry(result: SearchResult, verdict: Any) -> dict[str, Any]:
    return {
        "chunk_id": result.chunk_id,
        "doc_id": result.doc_id,
        "source": result.source,
        "score": round(verdict.score, 4),
        "reasons": verdict.reasons,
    }
