"""Feedback beside the pipeline: ratings, corrections and relevance marks stored against traces,
and turned into evaluation data."""

from .dataset import export_dataset
from .record import record_feedback

__all__ = ["export_dataset", "record_feedback"]
