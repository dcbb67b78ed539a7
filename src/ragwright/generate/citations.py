"""Citation bookkeeping shared by both answerers: sentence splitting, [n] markers, numbering."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..types import Citation, SearchResult

_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def find_markers(sentence: str) -> list[int]:
    """[1], [2, 3] and [1][2] -> [1, 2, 3] in order of appearance."""
    out: list[int] = []
    for group in _MARKER.findall(sentence):
        out.extend(int(n) for n in re.split(r"\s*,\s*", group))
    return out


def strip_markers(sentence: str) -> str:
    return re.sub(r"\s+([.!?,;:])", r"\1", _MARKER.sub("", sentence)).strip()


def cite(sentence: str, numbers: Sequence[int]) -> str:
    """Put the markers just before the sentence's final punctuation: 'It is blue [1].'"""
    marks = "".join(f"[{n}]" for n in numbers)
    text = sentence.rstrip()
    if text and text[-1] in ".!?":
        return f"{text[:-1]} {marks}{text[-1]}"
    return f"{text} {marks}"


class CitationBook:
    """Numbers sources by first use, so that [1] is always the first source the answer cites."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self.citations: list[Citation] = []

    def number(self, result: SearchResult, score: float) -> int:
        if result.chunk_id not in self._numbers:
            n = len(self._numbers) + 1
            self._numbers[result.chunk_id] = n
            self.citations.append(
                Citation(
                    n=n,
                    doc_id=result.doc_id,
                    chunk_id=result.chunk_id,
                    source=result.source,
                    text=result.text,
                    score=round(float(score), 4),
                    location=result.location,
                )
            )
        return self._numbers[result.chunk_id]
