"""What the model gateway keeps: calls and their cost, budget reservations, and the exact and
semantic caches (both are namespaces of one keyed cache)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from .data import BudgetCheck, Quoted


@runtime_checkable
class BudgetStore(Protocol):
    """Model calls and the money they cost. A call's cost is reserved before the call and settled
    after it, so concurrent calls (threads or processes) overshoot a budget by at most one call's
    difference between its estimate and its actual cost."""

    def reserve_budget(
        self, reservation_id: str, checks: Sequence[BudgetCheck], amount_usd: float, hold_s: float = 600.0
    ) -> tuple[str, float, float] | None:
        """Reserve `amount_usd` against each (budget, scope column, subject, since, limit) check,
        all or none, in one write transaction that serialises with every other reservation:
        spent (recorded calls since `since`) plus live reservations plus `amount_usd` must stay
        within `limit`. Returns None when reserved, or the first (budget, used, limit) it would
        pass, with nothing reserved. A reservation not settled within `hold_s` stops counting."""

    def release_budget(self, reservation_id: str) -> None:
        """Drop a reservation (the call was not made), committed before this returns; unknown ids
        are ignored."""

    def record_call(self, record: dict[str, Any], reservation_id: str | None = None) -> None:
        """Store one call (models/types.py CallRecord.to_dict()) and release its reservation in the
        same transaction: the money is never counted twice or not at all."""

    def spent_usd(self, column: str, subject: str | None, since: float = 0.0) -> float:
        """The recorded cost of calls since `since` whose `column` ("key_id", "tenant", "route",
        "model", or "1" for all) is `subject`; reservations are not included."""

    def usage_summary(self, by: str = "route", since: float = 0.0) -> list[dict[str, Any]]:
        """Calls since `since` grouped by `by` ("key_id", "tenant", "route" or "model"), ordered by
        it: calls, input_tokens, output_tokens, cost_usd, cached, errors."""


@runtime_checkable
class CacheStore(Protocol):
    """A keyed cache of strings, by namespace (exact answers, semantic answers, judge verdicts).
    An entry made from documents is linked to them and goes when any of them is deleted or
    replaced."""

    def cache_get(self, namespace: str, key: str) -> str | None:
        """The live value under (namespace, key), or None when missing or expired."""

    def cache_put(self, namespace: str, key: str, value: str, ttl_s: float | None = None, sources: Quoted = ()) -> None:
        """Keep `value` for `ttl_s` seconds (None: for good), replacing any entry under the same
        key, committed before this returns. Expired entries of every namespace, and their links
        to documents, are deleted on the way now and then. `sources`: the documents the value was
        made from, as doc ids or doc_id -> the version read (StoredChunk.version); the entry is
        linked to them (cache_link) in the same transaction, and when one is no longer stored, or
        no longer at the version read (deleted or replaced while the reply was made), nothing is
        kept under the key: the check, the write and the link are one transaction that no
        deletion or replacement comes between, and the entry is never readable unlinked."""

    def cache_scan(self, namespace: str, limit: int = 1000) -> list[tuple[str, str]]:
        """The newest live entries of a namespace, at most `limit`: (key, value)."""

    def cache_link(self, namespace: str, key: str, doc_ids: Quoted) -> None:
        """Remember that the entry was made from these documents (doc ids, or doc_id -> version
        read), so that deleting or replacing any of them deletes the entry in that write's
        transaction. Call it after cache_put (or pass cache_put its `sources`, which also closes
        the window between the two); an empty `doc_ids` is a no-op. When one of them is no longer
        stored, or no longer at the version read, the entry is deleted instead, in a transaction
        no deletion or replacement comes between."""


@runtime_checkable
class GatewayStore(BudgetStore, CacheStore, Protocol):
    """Everything the gateway records: calls, budgets and caches."""
