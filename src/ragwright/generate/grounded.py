"""Generated answers from a grounded prompt. The model sees numbered sources and must cite
them; afterwards every sentence is held to its sources: a citation that points at no retrieved
chunk is removed and reported, a sentence its sources do not support is cited to the source that
does, or dropped (the answer says how many), and an answer with no supported sentence at all
is not given (the caller answers extractively instead)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .._uploads_layout import DIGEST, FOLDER
from ..ingest.chunking import split_sentences
from ..models.chat import ChatMessage, ChatModel
from ..observe import span
from ..types import Answer, SearchResult
from .citations import CitationBook, cite, find_markers, strip_markers
from .evidence import Evidence
from .extractive import abstention
from .links import LINK_REMOVED, defang, draft_links
from .refusal import Verdict
from .support import SUPPORT_CONTAINMENT, contained, supports

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources given. After every sentence, cite the "
    "sources that support it as [1], [2]. Do not use outside knowledge. If the sources do not "
    "contain the answer, reply exactly: I don't know."
)
_WORD = re.compile(r"\w")
_UPLOAD_FOLDER = re.compile(rf"^.*?[/\\]{FOLDER}[/\\]{DIGEST}[/\\](?:{DIGEST}[/\\])?")
_DONT_KNOW = ("i don't know", "i do not know", "i dont know")


class Unsupported(Exception):
    """A generated answer of which no sentence is supported: the extractive answer is given instead."""


def found_nothing(text: str) -> bool:
    """An empty reply, or the "I don't know" the prompts ask for when the sources hold no answer."""
    return not text or text.lower().strip(" .").startswith(_DONT_KNOW)


def shown_location(result: SearchResult) -> str:
    """A passage's location as the API shows it: an upload by its file name, not by its server path
    (`<data dir>/uploads/<tenant digest>/<scope digest>/`, server/uploads.py). Prompts name passages
    this way: a model repeats what it is given, and a path it streams in sub-word pieces is cut
    across events that the server's path scrubber rewrites one at a time."""
    location = result.location  # the source, then its heading path or page
    return _UPLOAD_FOLDER.sub("", result.source, count=1) + location[len(result.source) :]


def build_messages(question: str, results: Sequence[SearchResult]) -> list[ChatMessage]:
    sources = "\n\n".join(f"[{i}] ({shown_location(r)})\n{r.text}" for i, r in enumerate(results, start=1))
    user = f"Sources:\n\n{sources}\n\nQuestion: {question}\nAnswer with citations:"
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user)]


def read_versions(passages: Sequence[SearchResult]) -> dict[str, str]:
    """Each document of these passages, once, with the version it was read at: what is made from
    them (a cached reply, a trace) is held to it, and not kept if the document was replaced (or
    deleted) meanwhile (store/quoted.py). A document read twice keeps its first version."""
    read: dict[str, str] = {}
    for p in passages:
        read.setdefault(p.doc_id, p.doc_version)
    return read


def generated_answer(
    question: str,
    results: Sequence[SearchResult],
    evidence: Sequence[Evidence],
    verdict: Verdict,
    model: ChatModel,
    *,
    max_tokens: int,
    on_text: Callable[[str], None] | None = None,
) -> Answer:
    """`on_text`: called with each piece of the model's draft as it is generated, where the model
    can stream, without images or URLs (links.draft_links: no passage vouches for a draft's URL
    yet); the returned answer is the draft checked (citations renumbered, unsupported sentences
    dropped, links kept to their passages), so it replaces the draft rather than extending it."""
    if verdict.refuse:
        return abstention(question, verdict.reason)
    messages, sources = build_messages(question, results), read_versions(results)
    if on_text is not None and hasattr(model, "stream"):
        parts, draft = [], draft_links()
        try:
            for piece in model.stream(messages, temperature=0.0, max_tokens=max_tokens, sources=sources):
                parts.append(piece)
                _send(on_text, draft.feed(piece))
        finally:  # a model that breaks off: its last word is shown too (without a URL, as any)
            _send(on_text, draft.end())
        text = "".join(parts).strip()
    else:
        text = model.complete(messages, temperature=0.0, max_tokens=max_tokens, sources=sources).text.strip()
    if found_nothing(text):
        answer = abstention(question, "the model found no answer in the retrieved sources")
        answer.mode = "generated"
        return answer
    with span("citation_check") as s:
        checked = check_citations(question, text, results)
        s.set(
            removed=len(checked.removed_citations) if checked else 0,
            dropped=len(checked.dropped_sentences) if checked else "all",
        )
    if checked is None:
        raise Unsupported("no sentence of the generated answer is supported by a retrieved passage")
    return checked


def _send(on_text: Callable[[str], None], text: str) -> None:
    if text:
        on_text(text)


def check_citations(question: str, text: str, results: Sequence[SearchResult]) -> Answer | None:
    """The model's answer with each sentence held to the passages it cites: a sentence they do not
    support (support.py, the measure the evaluator's faithfulness uses) is cited to the passage
    that does, or dropped; the answer says how many were dropped. Images go, and a link keeps its
    URL only if one passage the sentence cites holds it (links.py: the union of two passages is
    no warrant for a URL built from both). None when no sentence is supported: the caller falls
    back to the extractive answer."""
    book = CitationBook()
    removed: list[dict[str, object]] = []
    dropped: list[str] = []
    kept: list[str] = []
    for sentence in split_sentences(text):
        raw = strip_markers(sentence)
        if not raw:
            continue
        clean, valid = defang(raw, ()), []  # no URL in what the answer reports of a sentence
        for n in dict.fromkeys(find_markers(sentence)):
            if 1 <= n <= len(results):
                valid.append(n)
            else:
                removed.append({"n": n, "sentence": clean, "reason": f"no source [{n}] was retrieved"})
        shown = defang(raw, [results[n - 1].text for n in valid])
        claim = shown.replace(LINK_REMOVED, "")  # held to its passages without the placeholder's words
        if not valid or not supports("\n".join(results[n - 1].text for n in valid), claim):
            best = _best_source(claim, results)
            if best is None or not _WORD.search(claim):
                dropped.append(clean)
                continue
            valid, shown = [best], defang(raw, [results[best - 1].text])
        numbers = [book.number(results[n - 1], 1.0) for n in valid]
        kept.append(cite(shown, numbers))
    if not kept:
        return None
    answer = " ".join(kept)
    if dropped:
        some = "1 sentence" if len(dropped) == 1 else f"{len(dropped)} sentences"
        answer += f"\n\n({some} of the generated answer left out: no retrieved passage supports it.)"
    return Answer(
        question=question,
        answer=answer,
        abstained=False,
        citations=book.citations,
        mode="generated",
        removed_citations=removed,
        dropped_sentences=dropped,
    )


def _best_source(sentence: str, results: Sequence[SearchResult]) -> int | None:
    """The number of the passage that supports the sentence best, if one does."""
    scores = [contained(sentence, r.text) for r in results]
    if not scores or max(scores) < SUPPORT_CONTAINMENT:
        return None
    return scores.index(max(scores)) + 1
