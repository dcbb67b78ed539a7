"""The answer with no model: the passage of up to MAX_SENTENCES consecutive sentences (plus at
most one code block, and about MAX_WORDS words) that best answers the question, each sentence
cited.

The sentence most like the question is often a restatement of it ("There is a limit on how many
columns a table can contain."), and the answer is its neighbour ("Depending on the column types,
it is between 250 and 1600."). So a candidate is a run of sentences inside one chunk, scored by
its most relevant sentence plus whether it carries an answer of the kind the question asks for
(a number for "how many", a reason for "why", a name or code for "which" and "how do I");
the best run is then widened, a neighbour at a time, to the length limit. When the chunk sits
under a heading that names a term (a setting, a function, an option), the answer says which:
"listen_addresses (string): The default value is localhost ...".

Measured on pgdocs-qa (bench/answers_realdocs.py, same index, same run): 19 of 60 correct with
the sentences nearest the question (the answerer before issue 17), 34 of 60 with this, 39 once
the sentence after a restatement leads (LEAD_WEIGHT, widen), a colon brings what it announces,
comparisons count as reasons, and the question's words written together, what a which/what
question asks for and a default asked for count (evidence.py, question.py). Tried and dropped
(no gain): embedding the best 2-6 candidate passages whole ("heading: sentences") and adding
their cosine (35 of 60 then, 39 -> 38-39 later, for "why" questions only 39; 60-250 ms an ask on
a loaded 2-core machine, against 18-80 ms for a search); ranking a chunk by the best rank of its
section (35); heading terms counted at a quarter to three quarters (39); the reference page's
title before a generic heading (39); other weights of rank, chunk similarity and kind (34-36: a
plateau, so none is tuned to this set). Later (the answer stage on the same retrievals, one run
each): 40 once the question's opening sentences count for less than its asking one, 41 once a
sentence that writes what "which operator/role/setting" asks for the way such things are written
counts as its answer, 42 once a purpose ("if you wish to ... use this approach:") answers "why",
43 once the asked-for word itself earns nothing then ("set" is no setting) (question.py,
evidence.py). Tried and dropped: reading 8, 10 or 15 chunks instead of 5 (38: the right sentence
of a lower chunk loses to its rank either way); a third sentence from another chunk instead of
widening (31-32); the anchor sentences of the best 4-8 runs embedded and their cosine added
(33-39, and 10 ms a sentence on 2 cores); lengths normalised as BM25 does, more function words
dropped from the question, a stronger reward for "The default is", contrast words for "what is
the difference" (37-40); 120 random weightings of this scoring's eight weights and the number of
chunks (at most 39 of 60, at 39 then): no re-weighting of these features, learned or not, nears 48.
Then (same retrievals): a run no longer opens on a sentence that leans on one it leaves out ("That
means ...", a code block without its lead-in): 43 of 60 still, but pg-005/010/016/032's answers
open on what they lean on. Tried and dropped (43 -> 43 or less): a chunk ranked and scored as the
best chunk of its section (43 with one answer gained, one lost; 39 with the section's cosine),
single-letter question terms dropped (43), more function words dropped (42), RANK_WEIGHT 0.05 /
0.07 / 0.13 (42 / 43 / 42), the shape asked for read through a heading that names a term (43);
"how does X decide/determine ...?" expecting a condition or formula (42: "how do I ... pick up"
matched, and "If this value ..." is a condition too); "rather", "than", "from" as asking words (43);
a table row's description taking its signature line's sign of an answer (43); only runs that
carry the kind asked for, when a default, a bound or a shaped thing is asked (43); the best run
of each chunk re-ranked by its sentences' MiniLM cosine to the question (weight 0.5 / 1 / 2 / 4:
43 / 42-43 / 40 / 37-39: it finds pg-004/016/039/048/056 and loses more, as before).
Then 45 of 60 (44 before, same retrievals) once "how does X decide ...?" expects the rule it
applies, a condition crossing a bound or a formula (question.py: "criterion"); 46 once "the
difference between X and Y" expects a sentence naming both and setting them apart ("difference");
47 and 48 once a question asking for a sentence of one role is read further for it, in the first
passage's section or the next passages retrieved (further.py: pg-005, pg-002).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import groupby

from ..types import Answer
from .citations import CitationBook, cite
from .evidence import Evidence, heading_of
from .refusal import Verdict

MAX_WORDS = 80
EXPECTED_WEIGHT = 0.3  # of Question.expects, beside a sentence's relevance
LEAD_WEIGHT = 0.01  # per sentence before the run's most relevant one: an answer follows what restates the question
RANK_WEIGHT = 0.1  # per rank of the run's chunk in the retrieval: 30 -> 34 of 60 on pgdocs-qa
DANGLING_WEIGHT = 0.1  # for a run that opens on a word pointing back at a sentence it leaves out
# "That means ...", "However, ...", "This parameter ...", "If this value ...": a sentence that leans
# on the one before it, which an answer should not start with when that one is there to take.
_DANGLING = re.compile(
    r"(?:This|That|These|Those|It|Its|They|Such|Thus|Therefore|Hence|However|Also|In fact|If so|Otherwise)\b"
    r"|If (?:this|that|these|so)\b"
)


def extractive_answer(
    question: str,
    evidence: Sequence[Evidence],
    verdict: Verdict,
    *,
    max_sentences: int = 3,
    max_words: int = MAX_WORDS,
) -> Answer:
    if verdict.refuse:
        return abstention(question, verdict.reason)
    run = widen(best_run(evidence, max_sentences, max_words), evidence, max_sentences, max_words)
    book = CitationBook()
    n = book.number(run[0].result, verdict.similarity if verdict.similarity is not None else 0.0)
    parts = [e.sentence if e.is_code else cite(e.sentence, [n]) for e in run]
    head = heading_of(run[0].result)
    if _names_a_term(head) and head.lower() not in " ".join(parts).lower():
        parts[0] = f"{head}: {parts[0]}"
    text = "\n".join(p if not p.startswith("```") else f"\n{p}\n" for p in _join_prose(parts)).strip()
    return Answer(question=question, answer=text, abstained=False, citations=book.citations, mode="extractive")


def _score(e: Evidence) -> float:
    return e.relevance + EXPECTED_WEIGHT * e.expected


def _words(e: Evidence) -> int:
    return 0 if e.is_code else len(e.sentence.split())


def _fits(run: Sequence[Evidence], max_sentences: int, max_words: int) -> bool:
    prose = [e for e in run if not e.is_code]
    code = len(run) - len(prose)
    return len(prose) <= max_sentences and code <= 1 and (len(run) == 1 or sum(map(_words, run)) <= max_words)


def _runs(evidence: Sequence[Evidence], max_sentences: int, max_words: int) -> Iterator[tuple[float, list[Evidence]]]:
    """Every run of consecutive sentences of one chunk that fits, with its score: its most
    relevant sentence's relevance (a code block's words are not its relevance), its best sign of
    an answer of the kind asked for, less its chunk's retrieval rank, how far into the run its
    most relevant sentence comes, and whether it opens on a sentence leaning on one left out."""
    for _, group in groupby(evidence, key=lambda e: e.result.chunk_id):
        chunk = list(group)
        for i in range(len(chunk)):
            for j in range(i + 1, min(len(chunk), i + max_sentences + 1) + 1):
                run = chunk[i:j]
                if not _fits(run, max_sentences, max_words):
                    break
                if all(e.is_code for e in run):  # code comes with the sentence that introduces it
                    continue
                anchor = max((e for e in run if not e.is_code), key=lambda e: e.relevance)
                yield (
                    anchor.relevance
                    + EXPECTED_WEIGHT * max(e.expected for e in run)
                    - RANK_WEIGHT * run[0].rank
                    - LEAD_WEIGHT * run.index(anchor)
                    - (DANGLING_WEIGHT if i > 0 and _leans_back(run[0]) else 0.0),
                    run,
                )


def _leans_back(e: Evidence) -> bool:
    """Whether the sentence reads as the continuation of the one before it: a pointing word, a
    lower-case start ("will round values ..." after a code block), or a code block (its lead-in
    comes before it)."""
    return e.is_code or e.sentence[:1].islower() or bool(_DANGLING.match(e.sentence))


def best_run(evidence: Sequence[Evidence], max_sentences: int, max_words: int) -> list[Evidence]:
    """The run with the best score (the first of equals)."""
    best: tuple[float, list[Evidence]] | None = None
    for score, run in _runs(evidence, max_sentences, max_words):
        if best is None or score > best[0]:
            best = (score, run)
    return best[1] if best is not None else [evidence[0]]


def widen(run: list[Evidence], evidence: Sequence[Evidence], max_sentences: int, max_words: int) -> list[Evidence]:
    """Add neighbours of the same chunk, the better-scoring side first (the following one of
    equals: what comes after a sentence explains it), while the run fits; after a sentence that
    ends in a colon, what it announces comes first, and before one that leans on the sentence
    before it (_leans_back), that sentence."""
    chunk = [e for e in evidence if e.result.chunk_id == run[0].result.chunk_id]
    lo, hi = chunk.index(run[0]), chunk.index(run[-1])
    while True:
        options = [
            (_score(chunk[k]), a, b)
            for k, a, b in ((hi + 1, lo, hi + 1), (lo - 1, lo - 1, hi))  # the next sentence first of equals
            if 0 <= k < len(chunk) and _fits(chunk[a : b + 1], max_sentences, max_words)
        ]
        if options and options[0][2] == hi + 1 and chunk[hi].sentence.rstrip().endswith(":"):
            options = options[:1]  # "... two modes:" is nothing without what it announces
        elif options and options[-1][1] == lo - 1 and _leans_back(chunk[lo]):
            options = options[-1:]  # "That means ..." is nothing without what it means
        if not options:
            return chunk[lo : hi + 1]
        _, lo, hi = max(options, key=lambda o: o[0])


def _join_prose(parts: list[str]) -> list[str]:
    """Consecutive sentences on one line, a code block on its own."""
    out: list[str] = []
    for part in parts:
        if out and not part.startswith("```") and not out[-1].startswith("```"):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def _names_a_term(heading: str) -> bool:
    """A heading that names one thing (a setting, a function, an option), not a numbered section."""
    return (
        bool(heading)
        and len(heading.split()) <= 8
        and not re.match(r"^[\dA-Z]+(\.\d+)*\.\s", heading)
        and not re.fullmatch(r"[A-Z][a-z]+", heading)
    )  # "Notes", "Description": a section, not a term


def abstention(question: str, reason: str) -> Answer:
    return Answer(
        question=question,
        answer=f"I could not find an answer in the documents: {reason}.",
        abstained=True,
        reason=reason,
    )
