"""Chooses how to answer: extractively with no model, or generated from a grounded prompt."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..config import AnswerSettings
from ..errors import ModelError
from ..models.chat import ChatModel
from ..models.embedding import Embedder
from ..observe import note_documents, span
from ..retrieve.retriever import Retrieval
from ..types import Answer, SearchResult
from .evidence import EMBEDDED, Evidence, embed, gather
from .extractive import extractive_answer
from .further import further
from .grounded import Unsupported, generated_answer, read_versions
from .question import read_question
from .refusal import PassageCount, Thresholds, Verdict, judge
from .screening import screen

UNCALIBRATED_THRESHOLD = 0.35  # with neither [answer] abstain_threshold nor a workspace calibration


class Answerer:
    """`thresholds`: the workspace's calibrated refusal thresholds (calibration.py), unless
    [answer] abstain_threshold fixes one; `count`: how many of the reader's passages hold a word
    (refusal.py), from the store's access-filtered search."""

    def __init__(
        self,
        embedder: Embedder,
        settings: AnswerSettings,
        model: ChatModel | None = None,
        *,
        thresholds: Thresholds | None = None,
        count: PassageCount | None = None,
    ) -> None:
        self.embedder = embedder
        self.settings = settings
        self.model = model
        self.count = count
        fixed = settings.abstain_threshold
        self.thresholds = Thresholds(fixed) if fixed is not None else thresholds or Thresholds(UNCALIBRATED_THRESHOLD)

    def _answer(
        self,
        question: str,
        results: list[SearchResult],
        evidence: list[Evidence],
        verdict: Verdict,
        on_text: Callable[[str], None] | None,
        reading: Sequence[Evidence] | None = None,
    ) -> Answer:
        """Generated when there is a model, extractive otherwise; a model that fails (errors, times
        out, is over budget) or writes nothing its sources support gets the extractive answer,
        with a note saying why, rather than the user an error. `reading`: the sentences the
        extractive answer is read from, when not `evidence` (further.py)."""
        extractive = functools.partial(
            extractive_answer,
            question,
            evidence if reading is None else reading,
            verdict,
            max_sentences=self.settings.max_sentences,
        )
        if self.model is None:
            return extractive()
        try:
            return generated_answer(
                question,
                results,
                evidence,
                verdict,
                self.model,
                max_tokens=self.settings.max_output_tokens,
                on_text=on_text,
            )
        except (ModelError, Unsupported) as exc:
            with span("fallback", reason=str(exc)[:300]):
                answer = extractive()
            why = "the model failed" if isinstance(exc, ModelError) else "no sentence the model wrote was supported"
            answer.answer = f"{answer.answer}\n\n(Extractive answer: {why}: {exc})"
            answer.fallback = str(exc)
            return answer

    def _screened(self, question: str, retrieval: Retrieval) -> list[SearchResult]:
        """The reserve passages a reader may be answered from: those screening does not flag (a
        flagged one is left unread under any policy but "off", never a reason to block)."""
        policy = self.settings.injection
        return screen(question, retrieval.reserve, "drop" if policy != "off" else policy).kept

    def answer(self, question: str, retrieval: Retrieval, on_text: Callable[[str], None] | None = None) -> Answer:
        """`on_text` receives a generated answer's draft as the model writes it (see generated_answer)."""
        screening = screen(question, retrieval.results[: self.settings.context_chunks], self.settings.injection)
        results = screening.kept
        with span(
            "generate",
            mode="extractive" if self.model is None else "generated",
            context_chunks=[r.chunk_id for r in results],
        ) as outer:
            with span("evidence") as s:
                q = read_question(question)
                evidence = gather(q, results)
                verdict = judge(
                    q,
                    evidence,
                    self.thresholds,
                    self.count,
                    lambda n=EMBEDDED: embed(evidence, retrieval.query_vector, self.embedder, n),
                )
                s.set(
                    sentences=len(evidence),
                    kind=q.kind,
                    refuse=verdict.refuse,
                    reason=verdict.reason,
                    similarity=verdict.similarity,
                    threshold=verdict.threshold,
                    embedded=verdict.embedded,
                )
            reading = None if verdict.refuse else further(q, evidence, lambda: self._screened(question, retrieval))
            answer = self._answer(question, results, evidence, verdict, on_text, reading)
            if screening.report:
                answer.guard = screening.report
                if screening.note:
                    answer.answer = f"{answer.answer}\n\n{screening.note}".strip()
            quoted = _quoted(results, reading, answer)
            note_documents(quoted, quoted)
            outer.set(
                answer=answer.answer,
                abstained=answer.abstained,
                citations=[{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id} for c in answer.citations],
            )
        return answer


def _quoted(results: Sequence[SearchResult], reading: Sequence[Evidence] | None, answer: Answer) -> dict[str, str]:
    """The documents whose text the trace now holds: the context passages, the reserve passages
    the answer was read from (further.py) and whatever it cites. A deletion finds the trace by
    these; an extractive answer quoting a reserve passage once named only the context's. Each
    with the version it was read at (doc_version): one replaced since is not kept in the trace."""
    quoted = read_versions([*results, *(e.result for e in reading or ())])
    for c in answer.citations:
        quoted.setdefault(c.doc_id, "")
    return quoted
