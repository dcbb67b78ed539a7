"""Evaluation: retrieval measures with trec_eval semantics over BEIR-layout datasets, stored runs."""

from .beir import BeirDataset, DatasetError, load_beir
from .metrics import MEASURES, evaluate, query_measures
from .retrieval import document_run, evaluate_retrieval
from .runs import EvalRun

__all__ = ["MEASURES", "BeirDataset", "DatasetError", "EvalRun", "document_run", "evaluate", "evaluate_retrieval",
           "load_beir", "query_measures"]
