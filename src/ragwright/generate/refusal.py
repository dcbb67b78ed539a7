"""When to refuse: the evidence is judged against this workspace, not against one fixed cosine.

Three checks, in order; the first that fails refuses, and its reason is the answer's:
1. **A name no passage mentions.** The question names something (see question.py) that none of
   the context passages (text, title or headings) contains, and that the reader's documents
   hardly contain at all (`rare`: at most RARE_PASSAGES passages among those the reader may
   see, from the store's access-filtered keyword search), or a version ("MySQL 8.0") whose
   number no passage mentions.
2. **Too little similarity.** The best sentence's similarity is under the workspace's threshold:
   the questions this corpus cannot answer score like off-topic probes (calibration.py), so
   the threshold sits a margin above how the probes score here.
Measured on pgdocs-qa at 3,560 chunks (bench/answers_realdocs.py): the fixed 0.35 refused 3 of
15 off-topic questions; these checks refuse 14 of 15 with 0 to 1 of 60 answerable ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .evidence import Evidence, heading_of, strongest
from .question import Question, analyzer

RARE_PASSAGES = 3

# How many passages of the reader's documents hold a word (counted up to RARE_PASSAGES + 1).
PassageCount = Callable[[str], int]


@dataclass(slots=True)
class Verdict:
    refuse: bool
    reason: str = ""
    similarity: float | None = None  # the best sentence's, for the abstention message and calibration
    threshold: float | None = None


def judge(q: Question, evidence: Sequence[Evidence], threshold: float, count: PassageCount | None = None) -> Verdict:
    if not evidence:
        return Verdict(True, "no indexed passage matches the question")
    best = strongest(evidence)
    similarity = best.similarity
    missing = unmentioned(q, evidence, count)
    if missing:
        what = ", ".join(f"'{m}'" for m in missing)
        return Verdict(True, f"no passage mentions {what}", similarity, threshold)
    if similarity is None or similarity < threshold:
        shown = "none" if similarity is None else f"{similarity:.2f}"
        return Verdict(True, f"the closest passage ({best.result.location}) is not similar enough to the question "
                             f"({shown} < {threshold:.2f})", similarity, threshold)
    return Verdict(False, "", similarity, threshold)


def unmentioned(q: Question, evidence: Sequence[Evidence], count: PassageCount | None = None) -> list[str]:
    """The question's names (and version numbers) that the context passages never mention.
    An identifier (work_mem, db.m5.large) must appear as written; another name by any of its
    stemmed words. A name counts only when the reader's documents hardly hold it: its rarest
    word is in at most RARE_PASSAGES passages (a common word the top passages happen to lack,
    'PostgreSQL' in a PostgreSQL manual, says nothing)."""
    if not q.names and not q.versions:
        return []
    texts = {e.result.chunk_id: f"{e.result.title}\n{' '.join(e.result.heading_path)}\n{e.result.text}"
             for e in evidence}
    text = "\n".join(texts.values())
    lowered = text.lower()
    words = set(analyzer().terms(text)) | set(re.findall(r"\d+(?:\.\d+)*", text))
    missing = []
    for name in q.names:
        if not analyzer().terms(name):  # a stop word in capitals (OR, FOR): SQL, not a name
            continue
        if re.search(r"[_.]", name):
            absent = name.lower() not in lowered
        else:
            absent = not any(t in words for t in analyzer().terms(name))
        if absent and (count is None or min(count(w) for w in re.findall(r"[A-Za-z0-9]+", name)) <= RARE_PASSAGES):
            missing.append(name)
    for name, number in q.versions:
        if number not in words:
            missing.append(f"{name} {number}")
    return missing
