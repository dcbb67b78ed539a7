"""Reading further: when a question asks for a sentence of one role (Question.role: a default,
the shaped thing "which setting/operator ..." asks for, the rule "how does X decide" applies,
what sets two things apart) and the passages at hand do not play it, the answer is read where
such a sentence is, if one is near:

1. The section of the first passage. A reference entry is often cut into chunks, and the
   chunk that matches the question best ("shared_buffers: ... a reasonable starting value is
   25% of the memory") need not be the one that states its default ("The default is typically
   128 megabytes"), which retrieval may rank below other entries' defaults. When the first
   passage states none, the answer comes from the passages of its section (same document and
   headings) that do. Not for a shape: a sentence names a function or setting without the
   parenthesis or underscores that make its shape (pg-030 was lost that way).
2. The next passages retrieval ranked (Retrieval.reserve), when no context passage plays the
   role: those that do and are as similar to the question as a context passage is.

Without it, the answer is the best of what does not answer: "If my application never sets an
isolation level, which one do its transactions get?" got three sentences about what the SQL
standard defines, while the seventh passage says "The default is read committed". Reading more
passages for every question was worse (38 of 60 on pgdocs-qa with 8-15 against 39 with 5: a
lower passage's sentence wins on words alone); read only for a role, 46 -> 47 of 60 with the
reserve (pg-005), 48 with the section (pg-002), no other answer changed. Refusal is judged on
the context passages alone before this, and a generated answer never reads further.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..types import SearchResult
from .evidence import Evidence, gather
from .question import Question


def further(
    q: Question, evidence: Sequence[Evidence], reserve: Callable[[], Sequence[SearchResult]]
) -> Sequence[Evidence]:
    """The sentences to answer from: `evidence` itself unless the question asks for a role its
    first passage does not play (see the module docstring). `reserve` is called only when no
    context passage plays it (it screens the passages)."""
    if q.role is None or not evidence:
        return evidence
    if q.role != "shape":
        section = _section_of(evidence, evidence[0].result)
        if not _playing(e for e in section if e.result.chunk_id == evidence[0].result.chunk_id):
            playing = _playing(section)
            if playing:
                return [e for e in section if e.result.chunk_id in playing]
    if _playing(evidence):
        return evidence
    least = min(e.result.dense_score or 0.0 for e in evidence)
    more = gather(q, [r for r in reserve() if (r.dense_score or 0.0) >= least])
    playing = _playing(more)
    return [e for e in more if e.result.chunk_id in playing] or evidence


def _section_of(evidence: Sequence[Evidence], first: SearchResult) -> list[Evidence]:
    return [e for e in evidence if e.result.doc_id == first.doc_id and e.result.heading_path == first.heading_path]


def _playing(evidence: Iterable[Evidence]) -> set[str]:
    """The passages (chunk ids) with a sentence that plays the role asked for."""
    return {e.result.chunk_id for e in evidence if e.expected >= 1.0}
