"""When to refuse: the evidence is judged against this workspace, not against one fixed cosine.

Four checks, in order; the first that fails refuses, and its reason is the answer's:
1. **A name no passage mentions.** A question (not a statement to check: see `asks`) names
   something (see question.py) that none of the context passages (text, title or headings)
   contains, and that the reader's documents hardly contain at all (`rare`: at most
   RARE_PASSAGES passages among those the reader may see, from the store's access-filtered
   keyword search), or a version ("MySQL 8.0") whose number no passage mentions. A name (not a
   version) is forgiven when a sentence is similar to the question by NAME_MARGIN over the
   threshold: a specialised corpus holds rare acronyms its questions name (PubMedQA's "FSH" is
   no sign of an off-topic question).
2. **The asker's own organisation.** "How long does our company keep its backups?" over a manual
   about backups: only the organisation's own documents can say (`unowned`).
3. **Too little similarity.** A chunk as similar to the question as off-topic probes never get
   (calibration.py) settles it: answered. Otherwise the best sentences are embedded (all of the
   context's before refusing), and the best one's similarity must reach the workspace's
   threshold, a margin above how the probes' best sentences score on this corpus.
Measured with bench/refusals.py (the answerer before issue 17, a fixed cosine of 0.35, beside
these checks, in one run): see the README's paragraph on refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .evidence import Evidence, chunk_similarity, strongest
from .question import Question, analyzer

RARE_PASSAGES = 3
# An organisation a question calls its own ("our company"), and the rules it keeps for itself
# ("our change-management policy"): what only that organisation's own documents can tell.
_HOLDERS = "company|organi[sz]ation|employer|firm|corporation|department|business"
_RULEBOOK = "polic(?:y|ies)|procedures?|guidelines|runbooks?|playbooks?|handbook"
_PRIVATE = re.compile(rf"\b(?:our|my)\s+((?:[\w-]+\s+){{0,3}}?(?:({_HOLDERS})|{_RULEBOOK}))(?:'s)?\b", re.IGNORECASE)
_QUESTION_WORD = re.compile(
    r"(?:how|what|which|who|whom|whose|why|when|where|is|are|was|were|do|does|did|can|could|should|would|will|has|"
    r"have)\b",
    re.IGNORECASE,
)
NAME_MARGIN = 0.15  # a missing name refuses unless a sentence is this much above the threshold

# How many passages of the reader's documents hold a word (counted up to RARE_PASSAGES + 1).
PassageCount = Callable[[str], int]


@dataclass(slots=True, frozen=True)
class Thresholds:
    sentence: float  # refuse when the best embedded sentence is less similar to the question
    chunk_sure: float | None = None  # answer without embedding a sentence when a chunk is this similar


@dataclass(slots=True)
class Verdict:
    refuse: bool
    reason: str = ""
    similarity: float | None = None  # what was compared: a sentence's cosine, or a chunk's when that sufficed
    threshold: float | None = None
    embedded: bool = False  # whether sentences had to be embedded to decide
    chunk: float | None = None  # the best chunk's similarity (from dense retrieval)


def judge(
    q: Question,
    evidence: Sequence[Evidence],
    thresholds: Thresholds | float,
    count: PassageCount | None = None,
    embed: Callable[..., None] | None = None,
) -> Verdict:
    """`embed(n=...)` gives the n lexically best sentences not yet embedded their similarity; it is
    called only when no chunk is similar enough to answer without it (most answerable questions:
    51 of 60 on pgdocs-qa), and once more before a refusal for similarity."""
    t = thresholds if isinstance(thresholds, Thresholds) else Thresholds(thresholds)
    if not evidence:
        return Verdict(True, "no indexed passage matches the question")
    missing = unmentioned(q, evidence, count)
    chunk = chunk_similarity(evidence)
    if missing:
        versions = {f"{name} {number}" for name, number in q.versions}
        if embed is not None and not versions & set(missing):
            embed()
        similarity = strongest(evidence).similarity
        if versions & set(missing) or similarity is None or similarity < t.sentence + NAME_MARGIN:
            what = ", ".join(f"'{m}'" for m in missing)
            return Verdict(
                True, f"no passage mentions {what}", similarity, t.sentence + NAME_MARGIN, embed is not None, chunk
            )
    private = unowned(q, evidence)
    if private:
        return Verdict(True, f"the question is about your own {private}, which no passage speaks of", chunk=chunk)
    if t.chunk_sure is not None and chunk >= t.chunk_sure:
        return Verdict(False, "", chunk, t.chunk_sure, chunk=chunk)
    if embed is not None:
        embed()
        if (strongest(evidence).similarity or -1.0) < t.sentence:
            embed(len(evidence))  # before refusing, read all of the passages, as the fixed threshold did
    best = strongest(evidence)
    similarity = best.similarity
    if similarity is None or similarity < t.sentence:
        shown = "none" if similarity is None else f"{similarity:.2f}"
        return Verdict(
            True,
            f"the closest passage ({best.result.location}) is not similar enough to the question "
            f"({shown} < {t.sentence:.2f})",
            similarity,
            t.sentence,
            embed is not None,
            chunk,
        )
    return Verdict(False, "", similarity, t.sentence, embed is not None, chunk)


def unowned(q: Question, evidence: Sequence[Evidence]) -> str:
    """The asker's own organisation or its own rules ("our company", "our change-management
    policy") when no passage speaks of them: a manual about backups says nothing of how long
    the asker's company keeps its own. A passage speaks of them when it says "our company"
    (documents written by the organisation), or names the rules as the question does
    ("change-management policy"); a lone "policy" or "company" in a manual is someone else's."""
    m = _PRIVATE.search(q.text)
    if m is None:
        return ""
    words = re.findall(r"[A-Za-z0-9]+", m.group(1))
    phrase = r"[\s-]+".join(map(re.escape, words))
    text = "\n".join(f"{e.result.title}\n{e.result.text}" for e in {e.result.chunk_id: e for e in evidence}.values())
    if re.search(rf"\b(?:our|my)\s+(?:[\w-]+\s+){{0,3}}?{phrase}\b", text, re.IGNORECASE):
        return ""
    if not m.group(2) and len(words) > 1 and re.search(rf"\b{phrase}\b", text, re.IGNORECASE):
        return ""
    return m.group(1)


def asks(text: str) -> bool:
    """A question, not a statement to check. A claim ("LRBA prevents CTLA-4 recycling.") is read
    against the passages about its other terms, which may spell the name out ("LPS-responsive
    beige-like anchor"): SciFact's train claims name 9 of 400 such symbols no abstract writes, all
    answerable. A question asks about the named thing itself ("How do I convert a MyISAM table?")."""
    return text.rstrip().endswith("?") or bool(_QUESTION_WORD.match(text.lstrip()))


def unmentioned(q: Question, evidence: Sequence[Evidence], count: PassageCount | None = None) -> list[str]:
    """The question's names (and version numbers) that the context passages never mention.
    An identifier (work_mem, db.m5.large) must appear as written; another name by any of its
    stemmed words. A name counts only when the reader's documents hardly hold it: its rarest
    word is in at most RARE_PASSAGES passages (a common word the top passages happen to lack,
    'PostgreSQL' in a PostgreSQL manual, says nothing)."""
    names = q.names if asks(q.text) else []
    if not names and not q.versions:
        return []
    texts = {
        e.result.chunk_id: f"{e.result.title}\n{' '.join(e.result.heading_path)}\n{e.result.text}" for e in evidence
    }
    text = "\n".join(texts.values())
    lowered = text.lower()
    words = set(analyzer().terms(text))
    missing = []
    for name in names:
        if not analyzer().terms(name):  # a stop word in capitals (OR, FOR): SQL, not a name
            continue
        if re.search(rf"\b[a-z][a-z-]*[a-z]\s*\(\s*{re.escape(name)}\s*\)", q.text):
            continue  # spelt out: "diastolic blood pressure (DBP)"; "WITH (NOLOCK)" is no spelling out
        if re.search(r"[_.]", name):
            absent = name.lower() not in lowered
        else:  # HIV1 is also mentioned as HIV-1 or HIV 1
            parts = analyzer().terms(name) + analyzer().terms(" ".join(re.findall(r"[A-Za-z]+|\d+", name)))
            absent = not any(t in words for t in parts)
        if absent and (count is None or min(count(w) for w in re.findall(r"[A-Za-z0-9]+", name)) <= RARE_PASSAGES):
            missing.append(name)
    for name, number in q.versions:  # "17" of "Section 17.4" is no version 17
        if not re.search(rf"(?<![\d.]){re.escape(number)}(?!\.?\d)", text):
            missing.append(f"{name} {number}")
    return missing
