"""Feedback on answers and the versions `ragwright learn` makes from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .data import LearnedStamp


@runtime_checkable
class FeedbackStore(Protocol):
    """Feedback copies the query it is about, so it outlives the trace's retention and can become
    evaluation data. Deleting a document removes its id from feedback's marks and citations."""

    def save_feedback(
        self,
        feedback_id: str,
        trace_id: str,
        *,
        key_id: str | None,
        tenant: str | None,
        query: str,
        rating: float | None,
        rating_scale: str | None,
        correction: str | None,
        marks: Sequence[dict[str, Any]],
        cited: Sequence[str] = (),
    ) -> None:
        """Store one feedback row (created_at = now), committed before this returns: it survives a
        crash right after. A feedback_id already stored is an error and nothing is written.
        Queued traces are written first."""

    def list_feedback(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every feedback row, oldest first, only the tenant's when given: feedback_id, trace_id,
        created_at, key_id, tenant, query, rating, rating_scale, correction, marks, cited."""


@runtime_checkable
class LearnedStore(Protocol):
    """Versions of what was learned from feedback. Saving and activating a version is one
    transaction, so a crash leaves the previous version active; a reader sees one active version
    or none, never two. The active version and the four before it are kept for rollbacks."""

    def save_learned(
        self, kind: str, blob: bytes, marks: Sequence[tuple[int, str, str | None, float]], report: dict[str, Any]
    ) -> int:
        """Store a new version and make it the active one, all or nothing, in one transaction;
        returns its number (one more than the highest ever stored). marks: (example, doc_id,
        chunk_id or None, weight); marks on documents no longer stored (deleted while learning)
        are dropped, and deleting a document later deletes its marks in the same transaction.
        Versions beyond the kept chain are deleted. Changes learned_stamp."""

    def rollback_learned(self) -> tuple[int | None, int | None]:
        """Make the version that was active before the active one active again (none: retrieval as
        shipped) and drop the rolled-back version, in one transaction. Returns (from, to); (None,
        None) when no version is active. Changes learned_stamp."""

    def active_learned(self) -> dict[str, Any] | None:
        """The active version: version, kind, created_at, report, blob and marks (example, doc_id,
        chunk_id, weight, ordered), or None."""

    def list_learned(self) -> list[dict[str, Any]]:
        """Every kept version, oldest first: version, kind, created_at, active, previous, report and
        its number of marks."""

    def learned_stamp(self) -> LearnedStamp:
        """Changes whenever what retrieval should apply may have changed: a version activated or
        rolled back, or documents written or deleted (the write generation). (None, ...) while
        nothing was ever learned: the common case costs one small read."""

    def chunk_vectors(self) -> tuple[list[str], np.ndarray]:
        """Every chunk id and its stored vector (float32 rows) in storage order, read in one
        snapshot; ([], an empty (0, 0) matrix) for an empty store. For learning."""
