"""The extractive answer and its refusal, part by part: question reading, evidence, the answer
run, the refusal checks and the workspace calibration."""

import numpy as np
import pytest

from ragwright.generate.calibration import Calibration, Labelled, tune
from ragwright.generate.evidence import EMBEDDED, Evidence, embed, gather
from ragwright.generate.extractive import extractive_answer
from ragwright.generate.question import read_question
from ragwright.generate.refusal import RARE_PASSAGES, Thresholds, Verdict, judge, unmentioned
from ragwright.types import SearchResult


class CountingEmbedder:
    """A real Embedder (the protocol) whose vectors say which words a text holds; counts texts."""

    name = "counting"
    dim = 8
    words = ("timeout", "default", "second", "lock", "deadlock", "wait", "server", "check")

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        out = np.array([[1.0 if w in t.lower() else 0.0 for w in self.words] for t in texts], dtype=np.float32)
        out[:, -1] += 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _hit(text, heading="", chunk="c#0", title="Lock Management", dense=0.5):
    return SearchResult(
        "c", chunk, "locks.html", 1.0, text, title=title, heading_path=[heading] if heading else [], dense_score=dense
    )


DEADLOCK = (
    "This is the amount of time to wait on a lock before checking to see if there is a deadlock condition. "
    "The check for deadlock is relatively expensive, so the server doesn't run it every time it waits. "
    "We optimistically assume that deadlocks are not common in production applications. "
    "The default is one second (1s), which is probably about the smallest value you would want."
)
QUESTION = "By default, how long does a session wait on a lock before the server checks for a deadlock?"


def test_question_kinds_and_names():
    assert read_question("How many columns can a table have?").kind == "quantity"
    assert read_question("Why is VACUUM FULL slow?").kind == "reason"
    assert read_question("Which index type can be unique?").kind == "name"
    assert read_question("How do I load a CSV file?").kind == "procedure"
    assert read_question("Is the Gate Control Theory Still Valid in the 2nd Trimester?").names == []  # title case
    title = read_question('The Main Gate Syndrome: a new format in mass-casualty victim "surge" management?')
    assert title.names == []  # a title before the colon (PubMedQA)
    q = read_question("Setup: how do I move a MyISAM table into a database hosted by Oracle?")
    assert q.names == ["MyISAM", "Oracle"]  # the part after the colon is no title
    q = read_question("How do I convert a MyISAM table to InnoDB in MySQL 8.0, keeping work_mem and non-FULL?")
    assert q.names == ["MyISAM", "InnoDB", "MySQL", "work_mem", "FULL"]
    assert q.versions == [("MySQL", "8.0")]
    assert "how" not in q.terms and "myisam" in q.terms
    assert read_question("Why is turning fsync off dangerous?").names == []  # a sentence's first word is no name
    q = read_question("Does Arginine 90 bind it, as in Figure 3 of PostgreSQL 17?")
    assert q.versions == [("PostgreSQL", "17")]


def test_expects_an_answer_of_the_kind_asked():
    q = read_question("How many columns can a table have at most?")
    assert q.expects("Depending on the column types, it is between 250 and 1600.") == 1.0
    assert q.expects("There is a limit on how many columns a table can contain.") == 0.0
    assert read_question("Why is fsync needed?").expects("Data can be lost because writes are cached.") == 1.0
    assert read_question("Which setting controls it?").expects("Set listen_addresses to '*'.") == 1.0


def test_only_the_lexically_best_sentences_are_embedded_and_only_when_in_doubt():
    embedder = CountingEmbedder()
    text = " ".join(f"Sentence number {i} talks about wait and lock things here." for i in range(30))
    qv = np.ones(8, np.float32) / np.sqrt(8)
    evidence = gather(QUESTION, [_hit(text)])
    assert len(evidence) == 30 and embedder.texts == []  # gathering embeds nothing
    q = read_question(QUESTION)
    sure = judge(q, evidence, Thresholds(0.3, chunk_sure=0.45), embed=lambda: embed(evidence, qv, embedder))
    assert not sure.refuse and not sure.embedded and embedder.texts == []  # the chunk settled it
    doubt = judge(q, evidence, Thresholds(0.3, chunk_sure=0.9), embed=lambda: embed(evidence, qv, embedder))
    assert doubt.embedded and len(embedder.texts) == EMBEDDED
    assert sum(e.similarity is not None for e in evidence) == EMBEDDED
    assert all(t.startswith("Lock Management: ") for t in embedder.texts)  # read under its heading
    refused = judge(
        q, evidence, Thresholds(0.99, chunk_sure=0.9), embed=lambda n=EMBEDDED: embed(evidence, qv, embedder, n)
    )
    # not yet embedded ones first, then a second look before refusing
    assert refused.refuse and len(embedder.texts) == 30  # all of them, before refusing


def test_answer_is_the_run_that_carries_the_answer():
    embedder = CountingEmbedder()
    qv = embedder.embed([QUESTION])[0]
    evidence = gather(QUESTION, [_hit(DEADLOCK, heading="deadlock_timeout (integer)")])
    embed(evidence, qv, embedder, n=10)
    answer = extractive_answer(QUESTION, evidence, Verdict(False, similarity=0.8))
    assert not answer.abstained and "one second" in answer.answer
    assert answer.answer.startswith("deadlock_timeout (integer): ")  # the term the passage defines
    sentences = [s for s in answer.answer.split("[1]") if s.strip(" .")]
    assert len(sentences) <= 3 and len(answer.answer.split()) <= 80 + 4
    assert answer.answer.count("[1]") == len(sentences) and len(answer.citations) == 1


def test_a_code_block_comes_whole_beside_its_sentence():
    text = (
        "To convert a column to another type, use a command like:\n\n```\nALTER TABLE t\n  ALTER c TYPE numeric;\n```"
    )
    question = "How do I change a column type?"
    evidence = gather(question, [_hit(text)])
    answer = extractive_answer(question, evidence, Verdict(False, similarity=0.8))
    assert "```\nALTER TABLE t\n  ALTER c TYPE numeric;\n```" in answer.answer


def _evidence(text, similarity=0.6):
    return [Evidence(text, _hit(text, dense=0.3), 0, 0, 0.5, similarity=similarity)]


def test_refuses_a_name_no_passage_mentions():
    q = read_question("How do I convert a MyISAM table to the InnoDB storage engine?")
    verdict = judge(q, _evidence("ALTER TABLE can change the access method of a table.", 0.35), 0.3, count=lambda w: 0)
    assert verdict.refuse and "'MyISAM'" in verdict.reason
    # unless a sentence is clearly similar: a specialised corpus holds rare names its questions use
    assert not judge(q, _evidence("ALTER TABLE can change the access method.", 0.45), 0.3, count=lambda w: 0).refuse
    # the reader's documents do hold it often: the passages merely lack it, which says nothing
    assert not judge(q, _evidence("ALTER TABLE changes a table."), 0.3, count=lambda w: RARE_PASSAGES + 1).refuse
    assert unmentioned(q, _evidence("Converting MyISAM tables to InnoDB engines."), lambda w: 0) == []
    assert (
        unmentioned(read_question("Does the drug act on HIV1 in vitro?"), _evidence("HIV-1 was cultured."), lambda w: 0)
        == []
    )


def test_capitalised_stop_words_and_versions():
    assert unmentioned(read_question("Use SELECT ... FOR UPDATE OR what?"), _evidence("Row locks."), lambda w: 0) == [
        "SELECT",
        "UPDATE",
    ]
    assert unmentioned(
        read_question("What is new in PostgreSQL 17?"), _evidence("PostgreSQL 15 changes."), lambda w: 9
    ) == ["PostgreSQL 17"]
    assert (
        unmentioned(read_question("What is new in PostgreSQL 15?"), _evidence("PostgreSQL 15 changes."), lambda w: 9)
        == []
    )


def test_refuses_under_the_threshold_only():
    q = read_question("How long is the lock timeout?")
    assert judge(q, _evidence("The timeout is 1s.", 0.39), 0.4).refuse
    assert not judge(q, _evidence("The timeout is 1s.", 0.41), 0.4).refuse
    assert judge(q, [], 0.4).reason == "no indexed passage matches the question"


def test_tune_picks_the_margin_within_the_wrong_refusal_budget():
    cases = (
        [Labelled(True, s, False) for s in (0.5, 0.55, 0.6, 0.7, 0.8)] * 4
        + [Labelled(False, s, False) for s in (0.2, 0.3, 0.45, 0.52)]
        + [Labelled(False, 0.9, True)]
    )
    tuned = tune(cases, base=0.3, max_wrong=0.05)
    assert tuned["answerable_refused"] == 0.0 and tuned["off_topic_refused"] == 0.8
    assert 0.45 < tuned["threshold"] <= 0.5
    with pytest.raises(ValueError):
        tune([Labelled(True, 0.5, False)], base=0.3)


def test_calibration_goes_stale_when_the_corpus_changes():
    c = Calibration(0.3, 0.35, 0.3, 1000, "m", margin=0.12)
    assert c.threshold == pytest.approx(0.35) and c.thresholds.chunk_sure == pytest.approx(0.55)  # CEILING
    assert Calibration(0.3, 0.35, 0.3, 1000, "m", margin=0.12, tuned=True).threshold == pytest.approx(0.42)
    assert not c.stale(1080, "m") and c.stale(1200, "m") and c.stale(1000, "other")
    assert Calibration.from_json(c.to_json()) == c and Calibration.from_json("{") is None


def test_workspace_calibrates_once_and_again_when_the_corpus_grows(workspace, corpus, tmp_path):
    workspace.ingest([corpus])
    first = workspace.calibration()
    assert first is not None and first.chunks == workspace.store.stats()["chunks"]
    assert workspace.store.get_meta("answer.calibration") == first.to_json()
    assert workspace.calibration() is first  # kept while the corpus is unchanged
    extra = tmp_path / "more"
    extra.mkdir()
    for i in range(6):
        (extra / f"n{i}.md").write_text(f"# Note {i}\n\n" + "Parking permits are renewed every March. " * 40)
    workspace.ingest([extra])
    assert workspace.calibration().chunks > first.chunks
    tuned = workspace.set_refusal_margin(0.05)
    assert tuned.margin == 0.05 and workspace.calibration().margin == 0.05
