import re

import pytest

from ragwright import Settings, Workspace
from ragwright.generate import find_markers
from ragwright.generate.citations import cite, strip_markers
from tests.openai_server import FakeOpenAI


@pytest.fixture
def ws(workspace, corpus):
    workspace.ingest([corpus])
    return workspace


def _cited_sentences(answer):
    return [s for s in re.split(r"(?<=[.!?])\s+", answer.answer) if s]


def test_markers():
    assert find_markers("A [1]. B [2, 3][4]") == [1, 2, 3, 4]
    assert strip_markers("Blue sky [1].") == "Blue sky."
    assert cite("Blue sky.", [1, 2]) == "Blue sky [1][2]."


def test_extractive_answer_cites_every_sentence(ws):
    answer = ws.ask("What is the daily meal allowance for international trips?")
    assert not answer.abstained and answer.mode == "extractive"
    assert "80 euros" in answer.answer
    numbers = {c.n for c in answer.citations}
    for sentence in _cited_sentences(answer):
        marks = find_markers(sentence)
        assert marks and set(marks) <= numbers
    first = answer.citations[0]
    assert first.source.endswith("expenses.html") and "Meals" in first.location
    assert strip_markers(answer.answer.split(" [")[0] + ".") in first.text


def test_pdf_citation_names_the_page(ws):
    answer = ws.ask("For how many days per year may I work from another country?")
    assert not answer.abstained and "20 working days" in answer.answer
    assert "(page 2, Remote Work Policy > Working abroad)" in answer.citations[0].location


def test_abstains_when_evidence_is_thin(ws):
    answer = ws.ask("What is the boiling point of tungsten?")
    assert answer.abstained and answer.citations == []
    assert "not similar enough" in answer.reason


def _generating_workspace(tmp_path, embedder, server):
    settings = Settings(
        data_dir=tmp_path / "gen",
        answer={"model": "fake"},
        models={"fake": {"base_url": server.base_url, "model": "m1", "api_key_env": "FAKE_KEY"}},
    )
    return Workspace(settings=settings, embedder=embedder)


def test_generated_answer_checks_citations(tmp_path, embedder, corpus, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    with FakeOpenAI() as server:
        server.reply = lambda body: (
            "Full-time employees get 25 vacation days per year [1]. "
            "Up to 5 days carry over [9]. "
            "The moon is made of green cheese."
        )
        with _generating_workspace(tmp_path, embedder, server) as ws:
            ws.ingest([corpus])
            answer = ws.ask("How many vacation days do full-time employees get?")
        request = server.requests[-1]
    assert request["_auth"] == "Bearer sk-test" and request["temperature"] == 0
    prompt = request["messages"][-1]["content"]
    assert "[1]" in prompt and "25 days of paid vacation" in prompt
    assert not answer.abstained and answer.mode == "generated"
    assert answer.answer.startswith("Full-time employees get 25 vacation days per year [1].")
    assert answer.removed_citations == [
        {"n": 9, "sentence": "Up to 5 days carry over.", "reason": "no source [9] was retrieved"}
    ]
    assert "Up to 5 days carry over [1]." in answer.answer  # re-attached to the source that supports it
    assert answer.dropped_sentences == ["The moon is made of green cheese."]
    assert "cheese" not in answer.answer and "(1 sentence of the generated answer left out" in answer.answer
    assert answer.citations[0].source.endswith("leave-policy.md")


def test_model_saying_it_does_not_know_is_an_abstention(tmp_path, embedder, corpus, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    with FakeOpenAI() as server, _generating_workspace(tmp_path, embedder, server) as ws:
        ws.ingest([corpus])
        answer = ws.ask("How many vacation days do full-time employees get?")
    assert answer.abstained and "model found no answer" in answer.reason


def test_no_model_call_when_evidence_is_thin(tmp_path, embedder, corpus, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    with FakeOpenAI() as server, _generating_workspace(tmp_path, embedder, server) as ws:
        ws.ingest([corpus])
        answer = ws.ask("What is the boiling point of tungsten?")
        assert answer.abstained and server.requests == []


def test_a_failing_or_unreachable_model_gets_the_extractive_answer_with_a_note(tmp_path, embedder, corpus, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "k")
    question = "How many vacation days do full-time employees get?"
    with FakeOpenAI() as server, _generating_workspace(tmp_path, embedder, server) as ws:
        ws.ingest([corpus])
        server.status = 503
        answer = ws.ask(question)
        url = server.base_url
    assert not answer.abstained and answer.mode == "extractive" and "25" in answer.answer
    assert "answered 503" in answer.fallback and "(Extractive answer: the model failed" in answer.answer
    settings = Settings(
        data_dir=tmp_path / "gen",
        answer={"model": "fake"},
        models={"fake": {"base_url": url, "model": "m1", "timeout_s": 2}},
    )
    with Workspace(settings=settings, embedder=embedder) as ws:
        ws.ingest([corpus])
        answer = ws.ask(question)
    assert not answer.abstained and "unreachable" in answer.fallback and answer.citations


def test_an_answer_no_source_supports_gets_the_extractive_one(tmp_path, embedder, corpus, monkeypatch):
    """Citations that exist are not enough: every sentence must be supported by what it cites."""
    monkeypatch.setenv("FAKE_KEY", "k")
    with FakeOpenAI() as server:
        server.reply = lambda body: "Employees get unlimited vacation on Mars [1]. The office has a pool [2]."
        with _generating_workspace(tmp_path, embedder, server) as ws:
            ws.ingest([corpus])
            answer = ws.ask("How many vacation days do full-time employees get?")
    assert not answer.abstained and answer.mode == "extractive" and "Mars" not in answer.answer
    assert "no sentence the model wrote was supported" in answer.answer and answer.fallback


def test_abstention_looks_at_the_most_similar_sentence():
    from ragwright.generate.evidence import Evidence
    from ragwright.generate.question import read_question
    from ragwright.generate.refusal import judge
    from ragwright.types import SearchResult

    hit = SearchResult("d", "d#0", "src", 1.0, "text")
    evidence = [
        Evidence("word match", hit, 0, 0, 1.0, similarity=0.34),
        Evidence("meaning match", hit, 0, 1, 0.0, similarity=0.40),
    ]
    assert not judge(read_question("q"), evidence, 0.35).refuse
    assert judge(read_question("q"), evidence, 0.41).refuse
