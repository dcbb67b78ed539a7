"""`ragwright learn` is per access scope (tenant, groups, admin-ness), written as the attacks (review):

- a read key of tenant `evil` searches and marks its own pages relevant; the operator runs
  `ragwright learn`; tenant acme's results must not move (they did: one adapter, learned from
  every tenant's feedback over every tenant's chunks, was applied to every search);
- a key of acme's group `board` marks what it found; a reader of acme without `board` must not
  have its results reordered by the board's queries (they were: the memory was scoped by tenant)."""

from fastapi.testclient import TestClient

from ragwright.feedback import record_feedback
from ragwright.feedback.learn import learn
from ragwright.ingest import TextRecord
from ragwright.retrieve.adapter import active_model
from ragwright.retrieve.retriever import access_scope
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.feedback.learn_corpus import DOCS, PAIRS
from tests.generate.test_followup import records

EVIL_DOCS = [
    TextRecord(id=f"e{i}", title=f"e{i}", text=f"Recipe {i}: bake the sourdough loaf number {i} for {30 + i} minutes.")
    for i in range(8)
]
QUERIES = [
    "how does lru_cache memoize a function",
    "python cache maxsize none",
    "thread safe queue get put",
    "asyncio event loop run until complete",
    "read a csv file with the csv module",
    "json dumps indent sort keys",
    "pathlib glob files recursively",
    "subprocess run capture output",
    "datetime timezone aware now",
    "logging basic config level",
    "regular expression named groups",
    "dataclass field default factory",
]
ACME = {"access": Access("acme")}


def acme_view(ws):
    return [[(r.chunk_id, r.score) for r in ws.search(q, 5, ACME, mode="hybrid")] for q in QUERIES]


def test_one_tenants_feedback_leaves_another_tenants_results_alone(workspace):
    ws = workspace
    ws.ingest_records(records(), access=Access("acme"))
    ws.ingest_records(EVIL_DOCS, access=Access("evil"))
    before = acme_view(ws)
    docs = [d.doc_id for d in ws.documents({"access": Access("evil")})]
    key = create_key(ws.store, "evil", ["read"], [])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as evil:
        for n, q in enumerate(QUERIES):
            trace_id = evil.post("/v1/search", json={"query": q, "k": 3}).json()["trace_id"]
            ws.store.flush_traces()
            mark = {"doc_id": docs[n % len(docs)], "relevant": True}
            assert evil.post("/v1/feedback", json={"trace_id": trace_id, "marks": [mark]}).status_code == 201
    report = learn(ws.store, ws.embedder, ws.settings.retrieval, force=True)
    assert list(report["scopes"]) == ["evil"]  # acme gave no feedback: nothing learned for it
    assert acme_view(ws) == before
    version = active_model(ws.store)
    assert list(version.parts) == [access_scope({"access": Access("evil")})]


def give_feedback(ws, key_id, access, pairs=PAIRS, rank=2):
    """The reader `access` finds each question's rank-3 result the relevant one and says so."""
    filters = {"access": access}
    for question, variant in pairs:
        target = ws.search(question, k=5, filters=filters)[rank].doc_id
        for text in (question, variant):
            results = ws.search(text, k=5, filters=filters)
            (row,) = ws.store.list_traces(limit=1, name="search")
            marks = [{"chunk_id": r.chunk_id, "relevant": r.doc_id == target} for r in results]
            trace = ws.store.get_trace(row["trace_id"])
            record_feedback(ws.store, trace, key_id=key_id, tenant=access.tenant, marks=marks, access=access)


def test_one_groups_queries_do_not_reorder_another_readers_results(workspace):
    ws = workspace
    ws.ingest_records(DOCS, access=Access("acme"))
    board = Access("acme", ("board",))
    key_id = create_key(ws.store, "acme", ["read"], ["board"])["id"]
    give_feedback(ws, key_id, board)
    operator = {q: [(r.chunk_id, r.score) for r in ws.search(q, k=8)] for q, _ in PAIRS}
    report = learn(ws.store, ws.embedder, ws.settings.retrieval, force=True)
    assert report["chosen"]["kind"] in ("memory", "adapter+memory")
    version = active_model(ws.store)
    for reader in (ACME, {"access": Access("acme", admin=True)}, {"tenant": "acme"}, None):
        assert version.for_scope(access_scope(reader)) is None  # the board's part is the board's alone
    part = version.for_scope(access_scope({"access": board}))
    moved = 0
    for question, variant in PAIRS:
        for text in (question, variant):
            vector = ws.embedder.embed([text])[0]
            assert part.boosts(vector, access_scope(ACME)) == {}, text  # a reader without `board`
            assert part.boosts(vector, access_scope({"access": Access("acme", admin=True)})) == {}
            moved += bool(part.boosts(vector, access_scope({"access": board})))
    assert moved >= len(PAIRS)  # the board's own readers get what the board taught
    # the operator's searches (no tenant) have no part: acme's feedback does not move them either
    assert {q: [(r.chunk_id, r.score) for r in ws.search(q, k=8)] for q, _ in PAIRS} == operator
