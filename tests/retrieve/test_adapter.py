"""Applying what was learned: the query adapter and the feedback memory, stored and loaded
exactly, scoped by similarity and access (a part per tenant, groups and admin-ness; a past query
moves results only for readers of the access that marked it), and never bringing in a chunk the
search did not find (so filters and permissions hold)."""

import io
import json

import numpy as np
import pytest

from ragwright import TextRecord
from ragwright.retrieve import HybridRetriever
from ragwright.retrieve.adapter import LearnedModel, LearnedVersion, active_model, tenant_of
from ragwright.retrieve.retriever import access_scope
from ragwright.types import Access


def unit(*values):
    v = np.zeros(4, np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


ACME = access_scope({"access": Access("acme")})


def model(**params):
    return LearnedModel(
        examples=np.stack([unit(1, 0), unit(0, 1)]),
        scopes=["", ACME],
        marks=[{"a#0": 1.0, "b#0": -1.0}, {"doc:c": 1.0}],
        params={"threshold": 0.6, "weight": 1.0, "negative": 0.5, "neighbours": 10, **params},
    )


def test_stored_and_loaded_exactly():
    rng = np.random.default_rng(0)
    m, other = model(), LearnedModel(W=rng.normal(scale=0.01, size=(4, 4)).astype(np.float32))
    m.W = rng.normal(scale=0.01, size=(4, 4)).astype(np.float32)
    other.examples, other.scopes, other.marks, other.params = np.stack([unit(0, 0, 1)]), ["t\n\n"], [{"d#1": 1.0}], {}
    version = LearnedVersion(parts={ACME: m, "t\n\n": other}, embedder="e")
    rows = version.mark_rows()
    assert sorted(rows) == [(0, "a", "a#0", 1.0), (0, "b", "b#0", -1.0), (1, "c", None, 1.0), (2, "d", "d#1", 1.0)]
    back = LearnedVersion.from_stored({"blob": version.to_blob(), "marks": rows, "version": 3, "kind": "memory"})
    assert back.version == 3 and back.embedder == "e" and list(back.parts) == [ACME, "t\n\n"]
    for scope, part in version.parts.items():
        got = back.for_scope(scope)
        assert got.marks == part.marks and got.scopes == part.scopes and got.params == part.params
        assert np.array_equal(got.W, part.W) and np.array_equal(got.examples, part.examples)
    q = unit(1, 2, 3)
    assert np.array_equal(back.parts[ACME].adapt(q), m.adapt(q)) and abs(np.linalg.norm(m.adapt(q)) - 1) < 1e-6
    assert back.for_scope("") is None  # no part: as shipped
    for reader in (Access("acme", ("board",)), Access("acme", admin=True), Access("t", ("hr",))):
        assert back.for_scope(access_scope({"access": reader})) is None  # acme's readers' part is theirs alone


def test_adapter_identity_and_other_dimensions_left_alone():
    q = unit(3, 1)
    assert LearnedModel().adapt(q) is q
    assert np.allclose(LearnedModel(W=np.zeros((4, 4), np.float32)).adapt(q), q)
    other = np.ones(8, np.float32) / np.sqrt(8)
    assert model().adapt(other) is other and model().boosts(other) == {}


def test_memory_applies_to_close_queries_of_the_same_reader():
    m = model()
    assert m.boosts(unit(1, 0)) == {"a#0": 1.0, "b#0": -0.5}
    assert m.boosts(unit(1, 0.2)) == pytest.approx(
        {"a#0": (0.98058 - 0.6) / 0.4, "b#0": -0.5 * (0.98058 - 0.6) / 0.4}, rel=1e-4
    )
    assert m.boosts(unit(1, 1.5), ACME) == {"doc:c": pytest.approx((0.83205 - 0.6) / 0.4, rel=1e-4)}
    assert m.boosts(unit(1, 1.5)) == {}  # acme's reader's query does not apply to the operator's search
    for reader in (Access("acme", ("board",)), Access("acme", admin=True), Access("other")):
        assert m.boosts(unit(1, 1.5), access_scope({"access": reader})) == {}  # nor to another reader's
    assert m.boosts(unit(1, 0), ACME) == {}  # nor the operator's to acme's reader
    assert m.boosts(unit(0, 0, 1)) == {} and model(weight=0.0).boosts(unit(1, 0)) == {}


def test_rerank_moves_only_candidates():
    fused = [("b#0", 0.9), ("x#0", 0.8), ("c#1", 0.5), ("a#0", 0.1)]
    out, moved = model().rerank(fused, unit(1, 0), "")
    assert out == [("a#0", 1.1), ("x#0", 0.8), ("c#1", 0.5), ("b#0", 0.4)] and moved == 2
    out, moved = model().rerank([("x#0", 0.8)], unit(1, 0))  # a#0 was not found: it is not brought in
    assert out == [("x#0", 0.8)] and moved == 0
    out, _ = model().rerank(fused, unit(0, 1), ACME)
    assert out[0] == ("c#1", 1.5)  # a mark on a document moves its chunks


def blob(meta, **arrays):
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(json.dumps(meta)), **arrays)
    return buf.getvalue()


def test_bad_format_is_refused_and_one_adapter_for_every_tenant_or_group_is_not_applied():
    with pytest.raises(ValueError, match="format 9"):
        LearnedVersion.from_stored({"blob": blob({"format": 9}), "marks": [], "version": 1})
    old = blob({"format": 1, "params": {}, "tenants": []}, examples=np.zeros((0, 4), np.float32), W=np.eye(4))
    version = LearnedVersion.from_stored({"blob": old, "marks": [], "version": 1})
    assert version.parts == {} and version.for_scope(ACME) is None and version.for_scope("") is None
    # format 2: one part per tenant, its adapter learned from every group's marks
    per_tenant = blob(
        {"format": 2, "parts": [{"tenant": "acme", "kind": "adapter", "params": {}, "scopes": []}]},
        examples0=np.zeros((0, 4), np.float32),
        W0=np.eye(4, dtype=np.float32),
    )
    version = LearnedVersion.from_stored({"blob": per_tenant, "marks": [], "version": 2})
    assert version.parts == {} and version.for_scope(ACME) is None


def test_tenant_of_filters():
    assert tenant_of(None) is None and tenant_of({"format": "pdf"}) is None
    assert tenant_of({"access": Access("acme", ("hr",))}) == "acme" and tenant_of({"tenant": "t"}) == "t"


DOCS = [
    TextRecord(id="pets", text="Dogs and cats are popular pets that need daily care.", title="Pets"),
    TextRecord(id="cars", text="Electric cars need charging stations along highways.", title="Cars"),
    TextRecord(id="food", text="Bread is baked from flour, water, yeast and salt.", title="Food"),
]


def test_in_search_filters_hold_and_only_hybrid_changes(workspace):
    workspace.ingest_records(DOCS)
    query = "Which animals make good pets?"
    vector = workspace.embedder.embed([query])[0]
    learned = LearnedModel(
        examples=vector[None, :],
        scopes=[""],
        marks=[{"doc:food": 1.0}],
        params={"threshold": 0.6, "weight": 1.0, "negative": 0.5, "neighbours": 10},
    )

    def search(filters=None, mode="hybrid", with_model=learned):
        r = HybridRetriever(workspace.store, workspace.embedder, workspace.settings.retrieval, learned=with_model)
        return [h.doc_id for h in r.search(query, 3, filters, mode=mode).results]

    assert search(with_model=None)[0] == "pets" and search()[0] == "food"
    assert "food" not in search({"doc_id": ["pets", "cars"]})  # the filter applies before any boost
    assert search(mode="dense") == search(mode="dense", with_model=None)
    assert search(mode="bm25") == search(mode="bm25", with_model=None)


def test_active_model_is_cached_until_the_stamp_changes(workspace):
    assert active_model(object()) is None and active_model(workspace.store) is None
    workspace.ingest_records(DOCS)
    m = LearnedVersion(parts={"": model()})
    workspace.store.set_meta("embedder", workspace.embedder.name)
    workspace.store.save_learned("memory", m.to_blob(), [r for r in m.mark_rows() if r[1] != "a"], {})
    first = active_model(workspace.store)
    assert first.version == 1 and active_model(workspace.store) is first
    assert first.marks == [{}, {}]  # marks on documents the store does not hold are not kept
    workspace.store.save_learned("memory", m.to_blob(), [(0, "pets", "pets#0", 1.0)], {})
    assert active_model(workspace.store).version == 2
