"""Generated answers from a grounded prompt. The model sees numbered sources and must cite
them; afterwards every citation is checked: one that points at no retrieved chunk is removed
and reported, and a sentence left without a valid citation gets the source that supports it
best, or is dropped and reported when none does."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..ingest.chunking import split_sentences
from ..models.chat import ChatMessage, ChatModel
from ..models.embedding import Embedder
from ..observe import span
from ..types import Answer, SearchResult
from .citations import CitationBook, cite, find_markers, strip_markers
from .evidence import Evidence
from .extractive import abstention
from .refusal import Verdict

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources given. After every sentence, cite the "
    "sources that support it as [1], [2]. Do not use outside knowledge. If the sources do not "
    "contain the answer, reply exactly: I don't know."
)
_DONT_KNOW = ("i don't know", "i do not know", "i dont know")
SUPPORT_THRESHOLD = 0.35  # cosine of an uncited sentence to a source for that source to count as its support


def build_messages(question: str, results: Sequence[SearchResult]) -> list[ChatMessage]:
    sources = "\n\n".join(f"[{i}] ({r.location})\n{r.text}" for i, r in enumerate(results, start=1))
    user = f"Sources:\n\n{sources}\n\nQuestion: {question}\nAnswer with citations:"
    return [ChatMessage("system", SYSTEM_PROMPT), ChatMessage("user", user)]


def generated_answer(question: str, results: Sequence[SearchResult], evidence: Sequence[Evidence], verdict: Verdict,
                     model: ChatModel, embedder: Embedder, *, max_tokens: int,
                     on_text: Callable[[str], None] | None = None) -> Answer:
    """`on_text`: called with each piece of the model's draft as it is generated, where the model
    can stream; the returned answer is the draft checked (citations renumbered, unsupported
    sentences dropped), so it replaces the draft rather than extending it."""
    if verdict.refuse:
        return abstention(question, verdict.reason)
    messages, sources = build_messages(question, results), [r.doc_id for r in results]
    if on_text is not None and hasattr(model, "stream"):
        parts = []
        for piece in model.stream(messages, temperature=0.0, max_tokens=max_tokens, sources=sources):
            parts.append(piece)
            on_text(piece)
        text = "".join(parts).strip()
    else:
        text = model.complete(messages, temperature=0.0, max_tokens=max_tokens, sources=sources).text.strip()
    if not text or text.lower().strip(" .").startswith(_DONT_KNOW):
        answer = abstention(question, "the model found no answer in the retrieved sources")
        answer.mode = "generated"
        return answer
    with span("citation_check") as s:
        answer = _check_citations(question, text, results, embedder, SUPPORT_THRESHOLD)
        s.set(removed=len(answer.removed_citations), dropped=len(answer.dropped_sentences))
    return answer


def _check_citations(question: str, text: str, results: Sequence[SearchResult], embedder: Embedder,
                     threshold: float) -> Answer:
    book = CitationBook()
    removed: list[dict] = []
    dropped: list[str] = []
    kept: list[str] = []
    sentences = split_sentences(text)
    plain = [strip_markers(s) for s in sentences]
    vectors = embedder.embed(plain) if plain else np.zeros((0, 1), dtype=np.float32)
    for sentence, clean, vector in zip(sentences, plain, vectors):
        if not clean:
            continue
        valid = []
        for n in dict.fromkeys(find_markers(sentence)):
            if 1 <= n <= len(results):
                valid.append(n)
            else:
                removed.append({"n": n, "sentence": clean, "reason": f"no source [{n}] was retrieved"})
        if not valid:
            support = _best_source(vector, results, embedder)
            if support is None or support[1] < threshold:
                dropped.append(clean)
                continue
            valid = [support[0]]
        numbers = [book.number(results[n - 1], 1.0) for n in valid]
        kept.append(cite(clean, numbers))
    if not kept:
        answer = abstention(question, "no sentence of the generated answer is supported by a retrieved source")
        answer.mode, answer.removed_citations, answer.dropped_sentences = "generated", removed, dropped
        return answer
    return Answer(question=question, answer=" ".join(kept), abstained=False, citations=book.citations,
                  mode="generated", removed_citations=removed, dropped_sentences=dropped)


def _best_source(vector: np.ndarray, results: Sequence[SearchResult], embedder: Embedder) -> tuple[int, float] | None:
    if not results:
        return None
    chunk_vectors = embedder.embed([r.text for r in results])
    sims = chunk_vectors @ vector
    i = int(np.argmax(sims))
    return i + 1, float(sims[i])
