"""The gateway's records (model calls, budgets, exact and semantic caches) and evaluation runs:
what every store backend promises (store/contract/gateway.py, evaluation.py)."""

from __future__ import annotations

import threading
import time
import uuid

from .backends import document

AMOUNT, LIMIT = 0.125, 1.25  # exact in binary: ten calls fill the budget exactly


def call(cost: float, *, tenant: str = "acme", route: str = "ask", model: str | None = "m1", **more) -> dict:
    return {
        "call_id": uuid.uuid4().hex,
        "started_at": time.time(),
        "route": route,
        "model": model,
        "key_id": more.get("key_id"),
        "tenant": tenant,
        "usage": {"input_tokens": 100, "output_tokens": 10},
        "cost_usd": cost,
        "cached": more.get("cached", False),
        "latency_ms": 5.0,
        "error": more.get("error"),
    }


def test_forty_concurrent_reservations_overshoot_by_at_most_one_call(backend):
    """Forty callers in ten stores (processes) reserve one call's cost each against a budget of
    ten, then record the call: the budget is filled and passed by at most one call."""
    stores = [backend.open() for _ in range(10)]
    warm = [threading.Thread(target=s.spent_usd, args=("1", None)) for s in stores for _ in range(4)]
    for t in warm:  # every store connected before the race, so that the callers overlap
        t.start()
    for t in warm:
        t.join()
    granted: list[str] = []
    start = threading.Barrier(40)
    errors: list[BaseException] = []

    def spend(store) -> None:
        try:
            start.wait()
            rid = uuid.uuid4().hex
            if store.reserve_budget(rid, [("daily", "tenant", "acme", 0.0, LIMIT)], AMOUNT) is None:
                granted.append(rid)
                time.sleep(0.01)  # the call runs
                store.record_call(call(AMOUNT), rid)
        except BaseException as exc:  # noqa: BLE001  collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=spend, args=(stores[i % 10],)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    spent = stores[0].spent_usd("tenant", "acme")
    print(f"{backend.name}: {len(granted)} of 40 granted, spent {spent} against {LIMIT}")
    assert spent <= LIMIT + AMOUNT + 1e-9, f"overshot by {(spent - LIMIT) / AMOUNT:.0f} calls"
    assert len(granted) >= LIMIT / AMOUNT  # and the budget was not refused early


def test_a_reservation_counts_until_recorded_or_released(store):
    check = [("daily", "tenant", "acme", 0.0, 1.0)]
    assert store.reserve_budget("r1", check, 0.75) is None
    budget, used, limit = store.reserve_budget("r2", check, 0.5)
    assert (budget, used, limit) == ("daily", 0.75, 1.0)
    store.release_budget("r1")
    assert store.reserve_budget("r3", check, 0.5) is None
    store.record_call(call(0.25), "r3")  # cost 0.25 replaces the reservation of 0.5
    assert store.spent_usd("tenant", "acme") == 0.25
    assert store.reserve_budget("r4", check, 0.75) is None
    assert store.reserve_budget("r5", [("other", "tenant", "zeta", 0.0, 1.0)], 0.75) is None  # another subject


def test_a_reservation_is_all_or_none_over_its_budgets(store):
    checks = [("tenant-day", "tenant", "acme", 0.0, 10.0), ("global", "1", None, 0.0, 1.0)]
    store.record_call(call(0.9, tenant="zeta"))
    assert store.reserve_budget("r1", checks, 0.5)[0] == "global"
    assert store.reserve_budget("r2", checks[:1], 9.5) is None  # r1 left nothing held on the first budget


def test_a_check_counts_the_calls_of_every_value_it_names(store):
    """A route's budget also counts its models called by their own names (their calls' route is
    the model's name): `counted` names every route value whose calls count."""
    from ragwright.store.contract.data import BudgetCheck

    store.record_call(call(0.5, route="capped"))
    store.record_call(call(0.25, route="plain"))  # a direct call of one of capped's models
    store.record_call(call(0.125, route="elsewhere"))
    check = BudgetCheck("cap", "route", "capped", 0.0, 1.0, counted=("capped", "plain"))
    assert store.reserve_budget("r1", [check], 0.25) is None  # 0.75 spent + 0.25
    assert store.reserve_budget("r2", [check], 0.125) == ("cap", 1.0, 1.0)
    assert store.reserve_budget("r3", [check._replace(counted=())], 0.25) is None  # capped's own: 0.5 + 0.25 held


def test_spending_and_usage_are_summed_by_scope(store):
    store.record_call(call(0.5, route="ask", key_id="k1"))
    store.record_call(call(0.25, route="ask", cached=True, key_id="k1"))
    store.record_call(call(0.125, route="search", model=None, tenant="zeta", error="timeout"))
    assert store.spent_usd("key_id", "k1") == 0.75
    assert store.spent_usd("1", None) == 0.875
    assert store.spent_usd("route", "ask", since=time.time() + 60) == 0.0
    by_route = store.usage_summary("route")
    assert by_route == [
        {
            "route": "ask",
            "calls": 2,
            "input_tokens": 200,
            "output_tokens": 20,
            "cost_usd": 0.75,
            "cached": 1,
            "errors": 0,
        },
        {
            "route": "search",
            "calls": 1,
            "input_tokens": 100,
            "output_tokens": 10,
            "cost_usd": 0.125,
            "cached": 0,
            "errors": 1,
        },
    ]
    assert [r["model"] for r in store.usage_summary("model")] == [None, "m1"]  # the unnamed group first


def test_cache_entries_expire_and_scan_newest_first(store):
    store.cache_put("exact", "k1", "v1")
    store.cache_put("exact", "k2", "v2", ttl_s=60)
    store.cache_put("exact", "k3", "v3", ttl_s=0.2)
    store.cache_put("semantic", "k1", "other")
    assert (store.cache_get("exact", "k1"), store.cache_get("exact", "k3")) == ("v1", "v3")
    assert store.cache_get("exact", "nope") is None and store.cache_get("semantic", "k1") == "other"
    store.cache_put("exact", "k1", "v1b")  # replaced, and now the newest
    assert store.cache_scan("exact") == [("k1", "v1b"), ("k3", "v3"), ("k2", "v2")]
    assert store.cache_scan("exact", limit=1) == [("k1", "v1b")]
    time.sleep(0.3)
    assert store.cache_get("exact", "k3") is None
    assert store.cache_scan("exact") == [("k1", "v1b"), ("k2", "v2")]


def test_deleting_a_document_deletes_the_cache_entries_made_from_it(backend):
    a, b = backend.open(), backend.open()
    a.write_documents([document("d1", ["One."]), document("d2", ["Two."])])
    for key, docs in (("both", ["d1", "d2"]), ("one", ["d1", "d1"]), ("two", ["d2"])):
        a.cache_put("exact", key, f"answer from {key}")
        a.cache_link("exact", key, docs)
    a.cache_put("exact", "none", "no documents")
    a.cache_link("exact", "none", [])
    assert b.delete_document("d1") is True  # another process deletes
    assert [a.cache_get("exact", k) for k in ("both", "one", "two", "none")] == [
        None,
        None,
        "answer from two",
        "no documents",
    ]
    assert sorted(k for k, _ in a.cache_scan("exact")) == ["none", "two"]


def run(run_id: str, tenant: str | None, created_at: str) -> dict:
    data = {
        "run_id": run_id,
        "created_at": created_at,
        "kind": "retrieval",
        "dataset": "scifact",
        "split": "test",
        "pipeline": "hybrid",
        "dataset_hash": "h",
        "code_version": "1.0",
        "config": {"k": 10},
        "metrics": {"ndcg@10": 0.741},
        "per_query": {"q1": {"ndcg@10": 1.0}},
        "seconds": 1.5,
        "coverage": {"judged": 1},
        "cases": {"q1": {"seen": ["a#0"]}},
    }
    return {**data, "tenant": tenant} if tenant else data


def test_evaluation_runs_are_kept_per_tenant_in_the_order_saved(store):
    store.save_eval_run(run("r2", None, "2026-01-02T00:00:00"))
    store.save_eval_run(run("r1", "acme", "2026-01-01T00:00:00"))
    got = store.get_eval_run("r2")
    assert got == {**run("r2", None, "2026-01-02T00:00:00"), "tenant": "default"}
    assert store.get_eval_run("r1", tenant="acme")["cases"] == {"q1": {"seen": ["a#0"]}}
    assert store.get_eval_run("r1", tenant="default") is None  # another tenant's
    assert store.get_eval_run("nope") is None
    assert [r["run_id"] for r in store.list_eval_runs()] == ["r2", "r1"]
    (mine,) = store.list_eval_runs(tenant="acme")
    assert mine["metrics"] == {"ndcg@10": 0.741} and mine["tenant"] == "acme" and "per_query" not in mine
