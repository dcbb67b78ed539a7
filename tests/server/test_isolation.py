"""A property: whatever the tenants, groups, documents and queries, no endpoint ever shows a key
a document outside its tenant, or a grouped document outside its groups (admins see their whole
tenant), and filtering happens before ranking: the top k is never emptied by it. Feedback marks
resolve only documents the key may read (any other id, stored or not, gets the same 422), and
an admin reads its own tenant's evaluation runs only. Uploads are documents of their tenant and
exact groups (the same file name uploaded for other groups is another document), and a job is
shown only to keys that may read what it ingests."""

import itertools
import time

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragwright import Settings, TextRecord, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.server.test_attacks_small import stored_run
from tests.stores import store_url

SENTENCES = [
    "The budget for travel is approved by the finance team.",
    "Security badges must be worn at all times.",
    "The vacation policy grants twenty five days per year.",
    "Laptops are replaced every three years.",
    "The cafeteria serves lunch from noon.",
    "Parking permits are issued by facilities.",
    "Quarterly reports are due in the second week.",
    "Remote work requires manager approval.",
]
TENANTS, GROUPS = ["t1", "t2", "t3"], ["a", "b", "c"]
documents = st.lists(
    st.tuples(st.sampled_from(TENANTS), st.frozensets(st.sampled_from(GROUPS), max_size=2), st.sampled_from(SENTENCES)),
    min_size=1,
    max_size=10,
)
keys = st.lists(
    st.tuples(st.sampled_from(TENANTS), st.frozensets(st.sampled_from(GROUPS), max_size=2), st.booleans()),
    min_size=1,
    max_size=3,
)
uploads = st.lists(
    st.tuples(
        st.sampled_from(TENANTS),
        st.frozensets(st.sampled_from(GROUPS), max_size=2),
        st.sampled_from(SENTENCES),
        st.integers(0, 1),
    ),
    max_size=4,
)  # few names: they collide
queries = st.lists(
    st.sampled_from(
        [s.split()[1] + " " + s.split()[-1].rstrip(".") for s in SENTENCES]
        + ["vacation days", "who approves travel", "zzz unknown"]
    ),
    min_size=1,
    max_size=2,
)


def visible(doc_access: Access, key: tuple) -> bool:
    tenant, groups, admin = key
    return doc_access.tenant == tenant and (admin or not doc_access.groups or bool(set(doc_access.groups) & groups))


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=20, **SETTINGS)
@given(docs=documents, ups=uploads, key_specs=keys, qs=queries)
def test_no_result_crosses_a_permission(docs, ups, key_specs, qs, embedder, tmp_path_factory):
    ws = Workspace(settings=Settings(data_dir=tmp_path_factory.mktemp("iso")), embedder=embedder)
    check_isolation(ws, docs, ups, key_specs, qs)


@settings(max_examples=10, **SETTINGS)  # a database per example: fewer, to keep the suite's time
@given(docs=documents, ups=uploads, key_specs=keys, qs=queries)
def test_no_result_crosses_a_permission_on_postgresql(docs, ups, key_specs, qs, embedder, tmp_path_factory, request):
    with store_url("postgres", request) as url:
        ws = Workspace(
            settings=Settings(data_dir=tmp_path_factory.mktemp("iso"), store={"url": url}), embedder=embedder
        )
        check_isolation(ws, docs, ups, key_specs, qs)


def check_isolation(ws: Workspace, docs, ups, key_specs, qs) -> None:
    owner: dict[str, Access] = {}
    for n, (tenant, groups, text) in enumerate(docs):
        access = Access(tenant, tuple(sorted(groups)))
        ws.ingest_records([TextRecord(id=f"doc{n}", text=f"{text} Reference {n}.", title=f"Doc {n}")], access=access)
        owner[f"doc{n}"] = access
    for tenant in TENANTS:
        ws.store.save_eval_run(stored_run(f"run-{tenant}", tenant))
    issued = [
        (create_key(ws.store, t, ["read", "admin"] if admin else ["read"], list(g))["key"], (t, g, admin))
        for t, g, admin in key_specs
    ]
    traces: dict[str, str] = {}
    with TestClient(create_app(workspace=ws)) as client:
        jobs = upload_all(client, ws, ups, owner)
        for (key, spec), query in itertools.product(issued, qs):
            headers = {"Authorization": f"Bearer {key}"}
            allowed = {d for d, a in owner.items() if visible(a, spec)}
            seen: set[str] = set()
            for mode in ("hybrid", "bm25", "dense"):
                res = client.post("/v1/search", json={"query": query, "k": 5, "mode": mode}, headers=headers).json()
                ids = [r["doc_id"] for r in res["results"]]
                seen |= set(ids)
                if mode == "dense":  # filtered before ranking: as many results as there are visible chunks
                    assert len(ids) == min(5, len(allowed))
            ask = client.post("/v1/ask", json={"question": query}, headers=headers).json()
            seen |= {c["doc_id"] for c in ask["citations"]}
            chat = client.post(
                "/v1/chat/completions",
                headers=headers,
                json={"model": "rag:default", "messages": [{"role": "user", "content": query}]},
            ).json()
            seen |= {c["doc_id"] for c in chat["citations"]}
            listed = {d["doc_id"] for d in client.get("/v1/documents", headers=headers).json()["documents"]}
            assert listed == allowed
            for doc_id in owner:
                status = client.get(f"/v1/documents/{doc_id}", headers=headers).status_code
                assert status == (200 if doc_id in allowed else 404)
            assert seen <= allowed, (spec, seen - allowed)
            traces[key] = ask["trace_id"]
        for key, spec in issued:  # once per key: marks on the trace of one of its asks
            headers = {"Authorization": f"Bearer {key}"}
            check_feedback_marks(client, headers, traces[key], owner, {d for d, a in owner.items() if visible(a, spec)})
            check_eval_runs(client, headers, spec)
            for job_id, access in jobs.items():
                assert client.get(f"/v1/jobs/{job_id}", headers=headers).status_code == (
                    200 if visible(access, spec) else 404
                )
    ws.close()


def upload_all(client: TestClient, ws: Workspace, ups: list, owner: dict) -> dict[str, Access]:
    """Each upload by a write key of its tenant and groups, waited for; its document joins `owner`."""
    jobs: dict[str, Access] = {}
    for tenant, groups, text, name in ups:
        key = create_key(ws.store, tenant, ["read", "write"], sorted(groups))["key"]
        headers = {"Authorization": f"Bearer {key}"}
        res = client.post(
            "/v1/documents",
            headers=headers,
            data={"groups": ",".join(sorted(groups))},
            files=[("file", (f"note{name}.md", f"# Note\n{text} Upload {tenant}.\n".encode()))],
        ).json()
        deadline = time.monotonic() + 60
        while client.get(f"/v1/jobs/{res['job_id']}", headers=headers).json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, res
            time.sleep(0.02)
        access = Access(tenant, tuple(sorted(groups)))
        owner[res["document_ids"][0]] = access
        jobs[res["job_id"]] = access
    return jobs


def check_feedback_marks(client: TestClient, headers: dict, trace_id: str, owner: dict, allowed: set) -> None:
    def mark(*refs: dict) -> tuple[int, str]:
        res = client.post(
            "/v1/feedback",
            headers=headers,
            json={"trace_id": trace_id, "marks": [{**r, "relevant": False} for r in refs]},
        )
        return res.status_code, res.json().get("error", {}).get("message", "")

    for field, suffix in (("doc_id", ""), ("chunk_id", "#0")):
        if allowed:
            assert mark(*({field: d + suffix} for d in sorted(allowed)))[0] == 201
        refused = mark({field: "nowhere" + suffix})
        for doc_id in set(owner) - allowed:  # refused in the very words an id that exists nowhere gets
            status, message = mark({field: doc_id + suffix})
            assert (status, message.replace(doc_id, "nowhere")) == refused and status == 422, (doc_id, field)


def check_eval_runs(client: TestClient, headers: dict, spec: tuple) -> None:
    tenant, _, admin = spec
    listed = client.get("/v1/eval/runs", headers=headers)
    if not admin:
        assert listed.status_code == 403
        return
    assert [r["run_id"] for r in listed.json()["runs"]] == [f"run-{tenant}"]
    for other in TENANTS:
        assert client.get(f"/v1/eval/runs/run-{other}", headers=headers).status_code == (
            200 if other == tenant else 404
        )
