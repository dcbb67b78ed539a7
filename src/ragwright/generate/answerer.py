"""Chooses how to answer: extractively with no model, or generated from a grounded prompt."""

from __future__ import annotations

from ..config import AnswerSettings
from ..models.chat import ChatModel
from ..models.embedding import Embedder
from ..retrieve.retriever import Retrieval
from ..types import Answer
from .evidence import gather
from .extractive import extractive_answer
from .grounded import generated_answer


class Answerer:
    def __init__(self, embedder: Embedder, settings: AnswerSettings, model: ChatModel | None = None) -> None:
        self.embedder = embedder
        self.settings = settings
        self.model = model

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        results = retrieval.results[: self.settings.context_chunks]
        evidence = gather(question, retrieval.query_vector, results, self.embedder)
        if self.model is None:
            return extractive_answer(question, evidence, threshold=self.settings.abstain_threshold,
                                     max_sentences=self.settings.max_sentences)
        return generated_answer(question, results, evidence, self.model, self.embedder,
                                threshold=self.settings.abstain_threshold,
                                max_tokens=self.settings.max_output_tokens)
