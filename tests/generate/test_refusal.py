"""The refusal checks (generate/refusal.py) on small documents of their own: what refuses a
question the documents cannot answer, and what must not refuse one they can."""

from ragwright.generate.evidence import Evidence
from ragwright.generate.question import read_question
from ragwright.generate.refusal import Thresholds, judge, unowned
from ragwright.types import SearchResult

BACKUPS = (
    "Continuous archiving keeps every WAL segment until the next base backup. "
    "Old base backups and their WAL files can be removed once a newer backup is verified."
)


def _evidence(
    text: str, similarity: float = 0.6, title: str = "Backup and Restore", chunk: str = "c#0"
) -> list[Evidence]:
    hit = SearchResult("c", chunk, "backup.html", 1.0, text, title=title, dense_score=similarity)
    return [Evidence(s.strip() + ".", hit, 0, i, 0.5, similarity) for i, s in enumerate(text.split(". ")) if s]


def test_a_question_about_the_askers_own_organisation_is_refused_when_no_passage_speaks_of_it():
    q = read_question("How long does our company keep nightly database backups before deleting them?")
    verdict = judge(q, _evidence(BACKUPS, 0.6), Thresholds(0.35))
    assert verdict.refuse and "your own company" in verdict.reason
    policy = read_question("Who has to sign off on a schema migration under our change-management policy?")
    assert judge(policy, _evidence(BACKUPS, 0.6), Thresholds(0.35)).refuse
    # someone else's company, or a lone "policy", is not the asker's
    other = _evidence("Suppose we build a database for an ice cream company. A row security policy limits rows.")
    assert unowned(q, other) == "company" and unowned(policy, other) == "change-management policy"


def test_the_organisations_own_documents_answer_it():
    q = read_question("How long does our company keep nightly database backups before deleting them?")
    assert not judge(q, _evidence("Our company keeps nightly backups for 30 days.", 0.6), Thresholds(0.35)).refuse
    policy = read_question("Who has to sign off on a schema migration under our change-management policy?")
    wiki = _evidence("The change management policy requires a sign-off by the database lead.", 0.6)
    assert not judge(policy, wiki, Thresholds(0.35)).refuse
    # "my table", "our queries": the asker's own work, which a manual does explain
    mine = read_question("Why is my table's row security policy ignored for its owner?")
    assert unowned(mine, _evidence("A policy does not apply to the table owner.")) == ""


def test_a_corpus_that_answers_some_probes_gets_no_threshold_above_the_former_fixed_one():
    from ragwright.generate.calibration import CEILING, Calibration

    medical = Calibration(0.39, 0.52, 0.41, 1849, "m")  # PubMedQA: the flu and cholesterol probes score high
    assert medical.threshold == CEILING <= 0.35
    narrow = Calibration(0.15, 0.2, 0.2, 500, "m")  # probes score low: a lower threshold
    assert narrow.threshold < 0.3


def test_a_claim_is_not_refused_for_a_symbol_its_passages_spell_out():
    passage = _evidence("LPS-responsive beige-like anchor protein prevents CTLA-4 from being recycled.", 0.45)
    claim = read_question("LRBA prevents CTLA - 4 recycling.")  # SciFact: no abstract writes LRBA
    assert not judge(claim, passage, Thresholds(0.35), count=lambda w: 0).refuse
    asked = read_question("What does LRBA do to CTLA-4 recycling?")  # a question about the named thing
    verdict = judge(asked, passage, Thresholds(0.35), count=lambda w: 0)
    assert verdict.refuse and "'LRBA'" in verdict.reason


def test_an_acronym_the_question_spells_out_is_no_unknown_name():
    passage = _evidence("Polymorphisms of the beta-adrenergic receptor gene were genotyped in newborns.", 0.45)
    defined = read_question("Is there a role for polymorphisms in the beta-adrenergic receptor (ADRB) gene?")
    assert not judge(defined, passage, Thresholds(0.35), count=lambda w: 0).refuse
    bare = read_question("Is there a role for polymorphisms in the ADRB gene?")
    assert judge(bare, passage, Thresholds(0.35), count=lambda w: 0).refuse
    hint = read_question("What does the WITH (NOLOCK) table hint do?")  # a keyword, not a spelling out
    assert judge(hint, _evidence("A table hint changes the plan.", 0.45), Thresholds(0.35), count=lambda w: 0).refuse
