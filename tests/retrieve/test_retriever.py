import pytest

from ragwright import QuestionError, TextRecord

DOCS = [
    TextRecord(id="kw", text="Error code XJ-4471 means the flux capacitor is misaligned.", title="Codes"),
    TextRecord(id="sem", text="Canines make loyal companions and enjoy long walks outdoors.", title="Pets"),
    TextRecord(id="other", text="Quarterly revenue grew because subscription sales rose.", title="Finance"),
]


@pytest.fixture
def ws(workspace):
    workspace.ingest_records(DOCS)
    return workspace


def test_bm25_finds_exact_codes(ws):
    assert ws.search("XJ-4471", k=1, mode="bm25")[0].doc_id == "kw"
    assert ws.search("XJ-4471", k=1)[0].doc_id == "kw"


def test_dense_finds_paraphrases(ws):
    assert ws.search("dogs are wonderful friends", k=1, mode="dense")[0].doc_id == "sem"
    hits = ws.search("dogs are wonderful friends", k=3)
    assert hits[0].doc_id == "sem" and hits[0].dense_rank == 1 and hits[0].bm25_rank is None


def test_fused_scores_are_ranked_and_carry_locations(ws):
    hits = ws.search("revenue subscription", k=3)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].doc_id == "other" and hits[0].bm25_rank == 1 and hits[0].dense_rank == 1
    assert hits[0].location == "other" and hits[0].title == "Finance"


def test_filters_apply_before_ranking(ws):
    hits = ws.search("flux capacitor", k=2, filters={"doc_id": ["sem", "other"]})
    assert {h.doc_id for h in hits} == {"sem", "other"}


@pytest.mark.parametrize("query, message", [("", "empty"), ("   ", "empty"), ("x" * 100_000, "100,000 characters")])
def test_bad_queries(ws, query, message):
    with pytest.raises(QuestionError, match=message):
        ws.search(query)
    with pytest.raises(QuestionError, match=message):
        ws.ask(query)


def test_empty_store_returns_nothing(workspace):
    assert workspace.search("anything") == []
    answer = workspace.ask("anything at all?")
    assert answer.abstained and "no documents yet" in answer.reason  # says why, not just "no passage matches"


def test_the_reserve_is_the_next_results_and_leaves_the_top_k_as_they_were(ws):
    retriever = ws._retriever()
    top = retriever.search("revenue subscription", k=1)
    wider = retriever.search("revenue subscription", k=3)
    assert [r.chunk_id for r in top.results] == [r.chunk_id for r in wider.results[:1]]
    assert [r.chunk_id for r in top.reserve] == [r.chunk_id for r in wider.results[1:]]  # what comes next, in order
    assert retriever.search("revenue subscription", k=1, mode="bm25").reserve == []  # hybrid searches only
