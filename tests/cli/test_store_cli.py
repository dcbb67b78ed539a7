"""`ragwright store migrate` and `ragwright store copy`: a whole workspace moved from SQLite to
PostgreSQL (and back) with equal counts and equal search results, resumed after an interruption
without duplicates; a migration that names its versions, a newer schema refused."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ragwright.cli.app import app
from ragwright.config import Settings
from ragwright.store import copy as store_copy
from ragwright.store.factory import open_store
from ragwright.workspace import Workspace
from tests.store.contract.backends import document, trace
from tests.stores import fresh_database

runner = CliRunner()
QUERIES = [
    "vacation days",
    "password manager laptop",
    "sick leave",
    "expenses receipts",
    "remote work",
    "acme text",
    "employees",
]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, embedder) -> str:
    """A SQLite workspace with something in every table the copy moves."""
    from tests.conftest import SAMPLE_CORPUS

    data = tmp_path_factory.mktemp("source") / "data"
    ws = Workspace(settings=Settings(data_dir=data), embedder=embedder)
    ws.ingest([SAMPLE_CORPUS])

    store = ws.store
    store.write_documents([document("acme-1", ["tenant acme's own text"], tenant="acme", groups=("ops",), dim=384)])
    store.record_failure("/broken.pdf", "not a PDF")
    store.set_meta("answer.calibration", '{"threshold": 0.3}')
    store.add_api_key("k1", "hash-1", "acme", ["read"], ["ops"], name="first", rate_per_min=60)
    store.add_api_key("k2", "hash-2", "default", ["read", "admin"], [])
    store.revoke_api_key("k2")
    store.write_audit([(float(n), "k1", "acme", "GET", "/v1/search", 200, ["acme-1"], 1.5) for n in range(7)])
    for n in range(12):
        store.save_trace(trace(f"t{n:02}", start=time.time() - 100 + n, tenant="acme", doc_ids=("acme-1",)))
    store.flush_traces()
    store.save_feedback(
        "f1", "t01", key_id="k1", tenant="acme", query="q?", rating=1.0, rating_scale="binary", correction=None,
        marks=[{"doc_id": "acme-1", "relevant": True}], cited=["acme-1"],
    )  # fmt: skip
    first_chunk = store.get_chunks([store.chunk_vectors()[0][0]])
    cid, stored = next(iter(first_chunk.items()))
    store.save_learned("weights", b"blob-1", [(0, stored.chunk.doc_id, cid, 1.0)], {"gain": 0.1})
    store.save_learned("weights", b"blob-2", [(0, "acme-1", None, 0.5), (1, stored.chunk.doc_id, cid, 2.0)], {})
    store.add_job("j1", "ingest", "acme", "k1", {"paths": []})
    store.update_job("j1", status="done", total=1, done=1, result={"ok": 1})
    store.save_eval_run(_run("r1"))
    store.save_eval_run(_run("r2"))
    store.record_call(_call("c1", 0.25))
    store.cache_put("exact", "key-1", "answer", ttl_s=None)
    store.cache_link("exact", "key-1", ["acme-1"])
    ws.close()
    return f"sqlite://{data / 'ragwright.db'}"


def _run(run_id: str) -> dict:
    return {
        "run_id": run_id, "created_at": f"2026-01-0{run_id[-1]}T00:00:00", "kind": "retrieval",
        "dataset": "scifact", "split": "test", "pipeline": "hybrid", "dataset_hash": "h", "code_version": "1",
        "config": {}, "metrics": {"ndcg@10": 0.7}, "per_query": {}, "seconds": 1.0, "tenant": "acme",
    }  # fmt: skip


def _call(call_id: str, cost: float) -> dict:
    return {
        "call_id": call_id, "started_at": time.time(), "route": "ask", "model": "m1", "key_id": "k1",
        "tenant": "acme", "usage": {"input_tokens": 5, "output_tokens": 5}, "cost_usd": cost, "cached": False,
        "latency_ms": 1.0, "error": None,
    }  # fmt: skip


@pytest.fixture
def target(postgres_url: str):
    with fresh_database(postgres_url) as url:
        yield url


def _counts(report) -> dict[str, tuple[int, int]]:
    return {c.table: (c.source, c.target) for c in report.counts}


def _same_search(a_url: str, b_url: str) -> None:
    a, b = open_store(a_url), open_store(b_url)
    try:
        assert sum(len(a.keyword_search(q, 10)) for q in QUERIES) > 20  # the comparison compares something
        for q in QUERIES:
            for filters in (None, {"tenant": "acme"}):
                ra, rb = a.keyword_search(q, 10, filters), b.keyword_search(q, 10, filters)
                assert [i for i, _ in ra] == [i for i, _ in rb], q
                assert np.allclose([s for _, s in ra], [s for _, s in rb], atol=1e-4), q
        ids, matrix = a.chunk_vectors()
        for row in (0, len(ids) // 2, len(ids) - 1):
            ra, rb = a.vector_search(matrix[row], 10), b.vector_search(matrix[row], 10)
            assert [i for i, _ in ra] == [i for i, _ in rb]
            assert np.allclose([s for _, s in ra], [s for _, s in rb], atol=1e-4)
            assert ra[0][0] == ids[row]
    finally:
        a.close()
        b.close()


def test_copy_moves_every_table_with_equal_counts_and_equal_search(source: str, target: str, tmp_path: Path):
    result = runner.invoke(app, ["store", "copy", "--from", source, "--to", target, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "documents" in result.output and "differs" not in result.output
    report = store_copy.copy_store(source, target)  # a second run: nothing new, same counts
    counts = _counts(report)
    assert report.ok and report.documents_written == 0, counts
    for table in ("documents", "chunks", "vectors", "failed", "api_keys", "audit_log", "traces", "trace_docs"):
        assert counts[table][0] > 0, table
    for table in ("feedback", "learned", "learned_marks", "jobs", "eval_runs", "model_calls", "cache_entries", "meta"):
        assert counts[table][0] > 0, table
    _same_search(source, target)
    dst = open_store(target)
    try:
        assert dst.api_key_by_hash("hash-1")["rate_per_min"] == 60
        assert dst.api_key_by_hash("hash-2")["revoked_at"]
        assert [r["run_id"] for r in dst.list_eval_runs()] == ["r1", "r2"]
        assert dst.active_learned()["blob"] == b"blob-2" and len(dst.list_learned()) == 2
        assert dst.get_meta("embedder") and dst.get_meta("answer.calibration") == '{"threshold": 0.3}'
        assert dst.spent_usd("key_id", "k1") == pytest.approx(0.25)
        dst.write_audit([(99.0, "k1", "acme", "GET", "/v1/search", 200, [], 1.0)])  # the id sequence moved on
        assert dst.list_audit(1)[0]["at"] == 99.0
        assert dst.delete_document("acme-1")  # the deletion cascade finds the copied links
        assert dst.cache_get("exact", "key-1") is None and not dst.list_traces(tenant="acme")
    finally:
        dst.close()
    back = f"sqlite://{tmp_path / 'back.db'}"  # and back: PostgreSQL to SQLite
    report = store_copy.copy_store(target, back)
    assert report.ok, _counts(report)
    _same_search(target, back)


def test_an_interrupted_copy_finishes_when_run_again_without_duplicates(
    source: str, target: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(store_copy, "DOC_BATCH", 3)
    monkeypatch.setattr(store_copy, "BATCH", 4)

    def stop_at(table: str, after: int):
        def hook(name: str, done: int) -> None:
            if name == table and done >= after:
                raise KeyboardInterrupt

        return hook

    with pytest.raises(KeyboardInterrupt):
        store_copy.copy_store(source, target, after_batch=stop_at("documents", 3))
    with pytest.raises(KeyboardInterrupt):
        store_copy.copy_store(source, target, after_batch=stop_at("traces", 8))
    middle = open_store(target)
    try:
        assert 0 < middle.list_traces(limit=100).__len__() < 12
    finally:
        middle.close()
    report = store_copy.copy_store(source, target)
    assert report.ok, _counts(report)
    assert report.documents_skipped >= 3
    again = store_copy.copy_store(source, target)
    assert _counts(again) == _counts(report) and again.documents_written == 0
    _same_search(source, target)


def test_copy_refuses_a_target_holding_another_workspace(source: str, target: str, tmp_path: Path):
    other = open_store(target)
    other.write_documents([document("mine", ["someone else's text"])])
    other.close()
    result = runner.invoke(app, ["store", "copy", "--from", source, "--to", target])
    assert result.exit_code == 2
    assert "is not empty: copy into an empty database" in result.output
    result = runner.invoke(app, ["store", "copy", "--from", source, "--to", source])
    assert result.exit_code == 2 and "the same store" in result.output


def test_migrate_names_the_versions_and_refuses_a_newer_schema(target: str, tmp_path: Path):
    from ragwright.store.postgres.schema import LATEST

    first = runner.invoke(app, ["store", "migrate", "--url", target])
    assert first.exit_code == 0, first.output
    assert f"migrated from schema version 0 to {LATEST}" in first.output
    second = runner.invoke(app, ["store", "migrate", "--url", target, "--json"])
    assert second.exit_code == 0 and f'"from": {LATEST}, "to": {LATEST}' in second.output
    import psycopg

    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (LATEST + 1,))
    newer = runner.invoke(app, ["store", "migrate", "--url", target])
    assert newer.exit_code == 2
    assert f"schema version {LATEST + 1}, newer than this ragwright understands ({LATEST})" in newer.output
    lite = runner.invoke(app, ["store", "migrate", "--data-dir", str(tmp_path / "d")])
    assert lite.exit_code == 0 and "(sqlite): migrated from schema version 0 to" in lite.output
