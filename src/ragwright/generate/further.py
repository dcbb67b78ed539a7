"""Reading a little further: when a question asks for a sentence of one role (a default, the
shaped thing "which setting/operator ..." asks for, the rule "how does X decide" applies, what
sets two things apart: Question.asks_role) and no sentence of the context passages plays it,
the extractive answer is read from the next passages retrieval ranked (Retrieval.reserve), if
one of them holds such a sentence.

Without it, the answer is the best of what does not answer: "If my application never sets an
isolation level, which one do its transactions get?" got three sentences about what the SQL
standard defines, while the sixth passage says "The default is read committed". Reading more
passages for every question was worse (38 of 60 on pgdocs-qa with 8-15 against 39 with 5: a
lower passage's sentence wins on words alone); read only for a role none of the first holds, it
changed one answer of 60, pg-005 (46 -> 47). Refusal is judged on the context passages alone
before this, and a generated answer never reads the reserve.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..types import SearchResult
from .evidence import Evidence, gather
from .question import Question


def further(
    q: Question, evidence: Sequence[Evidence], reserve: Callable[[], Sequence[SearchResult]]
) -> Sequence[Evidence]:
    """`evidence` itself unless the question asks for a role none of its sentences plays;
    then the sentences of the reserve passages that hold one and are as similar to the question
    as a context passage is (dense cosine at least the least of theirs: a lower passage is read
    for its role, not for any sentence that has one), or `evidence` when none does. `reserve` is
    called only then (it screens the passages)."""
    if not q.asks_role or not evidence or any(e.expected >= 1.0 for e in evidence):
        return evidence
    least = min(e.result.dense_score or 0.0 for e in evidence)
    near = [r for r in reserve() if (r.dense_score or 0.0) >= least]
    more = gather(q, near)
    playing = {e.result.chunk_id for e in more if e.expected >= 1.0}
    return [e for e in more if e.result.chunk_id in playing] or evidence
