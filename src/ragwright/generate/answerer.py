"""Chooses how to answer: extractively with no model, or generated from a grounded prompt."""

from __future__ import annotations

from typing import Callable

from ..config import AnswerSettings
from ..models.chat import ChatModel
from ..models.embedding import Embedder
from ..observe import note_documents, span
from ..retrieve.retriever import Retrieval
from ..types import Answer
from .evidence import gather
from .extractive import extractive_answer
from .grounded import generated_answer
from .screening import screen


class Answerer:
    def __init__(self, embedder: Embedder, settings: AnswerSettings, model: ChatModel | None = None) -> None:
        self.embedder = embedder
        self.settings = settings
        self.model = model

    def answer(self, question: str, retrieval: Retrieval, on_text: Callable[[str], None] | None = None) -> Answer:
        """`on_text` receives a generated answer's draft as the model writes it (see generated_answer)."""
        screening = screen(question, retrieval.results[: self.settings.context_chunks], self.settings.injection)
        results = screening.kept
        with span("generate", mode="extractive" if self.model is None else "generated",
                  context_chunks=[r.chunk_id for r in results]) as outer:
            with span("evidence") as s:
                evidence = gather(question, retrieval.query_vector, results, self.embedder)
                s.set(sentences=len(evidence))
            if self.model is None:
                answer = extractive_answer(question, evidence, threshold=self.settings.abstain_threshold,
                                           max_sentences=self.settings.max_sentences)
            else:
                answer = generated_answer(question, results, evidence, self.model, self.embedder,
                                          threshold=self.settings.abstain_threshold,
                                          max_tokens=self.settings.max_output_tokens, on_text=on_text)
            if screening.report:
                answer.guard = screening.report
                if screening.note:
                    answer.answer = f"{answer.answer}\n\n{screening.note}".strip()
            note_documents(r.doc_id for r in results)  # the answer quotes them
            outer.set(answer=answer.answer, abstained=answer.abstained,
                      citations=[{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id} for c in answer.citations])
        return answer
