"""Evaluation runs: a run's configuration, metrics and per-query results, kept for comparison."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class EvalRunStore(Protocol):
    """A run belongs to a tenant (default 'default', whose documents the CLI ingests); over HTTP
    an admin key reads only its own tenant's runs."""

    def save_eval_run(self, run: dict[str, Any]) -> None:
        """Store a run (evaluate.EvalRun.to_dict() plus an optional "tenant") whole or not at all,
        committed before this returns. A run_id already stored is an error. A run made from this
        store's documents names them in "sources" (doc_id -> the version it read, or a list of
        ids: held to being stored only): checked in the same transaction, what its cases hold of
        one no longer stored or no longer at that version is taken out as its deletion would
        (store/records.py, cases_to_store); "sources" itself is not stored."""

    def get_eval_run(self, run_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """The whole run with its tenant, or None when there is none (or, given `tenant`, when it
        is another tenant's)."""

    def list_eval_runs(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every run, oldest first (in the order saved), only the tenant's when given: run_id,
        created_at, kind, dataset, split, pipeline, metrics and tenant."""
