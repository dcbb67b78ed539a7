"""Evaluation: retrieval measures with trec_eval semantics and answer measures over BEIR-layout
datasets, judges made repeatable, stored runs, comparison and regression gates."""

from .answers import ANSWER_MEASURES, evaluate_answers
from .beir import BeirDataset, DatasetError, load_beir
from .judge import Judge, Verdict
from .labels import GoldAnswers, find_gold, load_gold
from .metrics import MEASURES, evaluate, query_measures
from .retrieval import document_run, evaluate_retrieval
from .runs import EvalRun

__all__ = [
    "ANSWER_MEASURES",
    "MEASURES",
    "BeirDataset",
    "DatasetError",
    "EvalRun",
    "GoldAnswers",
    "Judge",
    "Verdict",
    "document_run",
    "evaluate",
    "evaluate_answers",
    "evaluate_retrieval",
    "find_gold",
    "load_beir",
    "load_gold",
    "query_measures",
]
