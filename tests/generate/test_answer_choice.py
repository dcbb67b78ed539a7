"""Which sentences the extractive answer is built from, on small documents of our own: the
sentence after a restatement of the question, sentences cut inside a parenthesis made whole,
comparisons as reasons, a question's words written together, sentences that state a default, the
asking sentence of a question over the setting before it."""

import pytest

from ragwright.generate import evidence
from ragwright.generate.evidence import gather, rejoin
from ragwright.generate.extractive import extractive_answer
from ragwright.generate.question import LIMIT_MISS, read_question
from ragwright.generate.refusal import Verdict
from ragwright.types import SearchResult


def _hit(text, heading="Architecture", chunk="c#0", dense=0.5):
    return SearchResult("d", chunk, "guide.html", 1.0, text, title="Guide", heading_path=[heading], dense_score=dense)


def _sections(*sections, first_dense=0.6):
    """One chunk a (heading, text) section, all as similar to the question, or the first more so."""
    return [
        _hit(text, heading, f"s{n}#0", first_dense if n == 0 else 0.6) for n, (heading, text) in enumerate(sections)
    ]


def _answer(question, *hits):
    return extractive_answer(question, gather(question, list(hits)), Verdict(False, similarity=0.8)).answer


def test_the_sentence_after_a_restatement_of_the_question_is_in_the_answer():
    text = (
        "Before we go on, read the overview of the parts. "
        "The overview explains how the pieces fit together. "
        "The broker can handle many concurrent clients at once. "
        "To achieve this it forks a new worker for each connection. "
        "From then on the worker talks to its peer alone."
    )
    answer = _answer("How does the broker cope with many clients at once?", _hit(text))
    assert "forks a new worker for each connection" in answer
    assert "Before we go on" not in answer  # three sentences at most: the restatement leads


def test_a_sentence_cut_inside_a_parenthesis_is_made_whole():
    pieces = [
        "When locking is on for a queue (with SET QUEUE ..",
        "ENABLE LOCKING), every reader must hold a lease.",
        "(The lease is renewed by the client.",
        "Leases expire after a minute.",
    ]
    assert rejoin(pieces) == [
        "When locking is on for a queue (with SET QUEUE .. ENABLE LOCKING), every reader must hold a lease.",
        "(The lease is renewed by the client.",  # the splitter dropped its ")": no parenthesis left open
        "Leases expire after a minute.",
    ]
    assert rejoin(["A list (of:", "```\ncode (\n```", "Next."]) == ["A list (of:", "```\ncode (\n```", "Next."]
    text = "When locking is on for a queue (with SET QUEUE .. ENABLE LOCKING), every reader must hold a lease."
    assert [e.sentence for e in gather("How do I turn on locking for a queue?", [_hit(text)])] == [text]


def test_a_comparison_answers_why():
    q = read_question("Why is it faster to build the index after loading the rows?")
    assert q.expects("Building an index on existing rows is quicker than updating it row by row.") == 1.0
    assert q.expects("More memory is less likely than ever to help here.") == 1.0
    assert q.expects("The index is built after loading the rows.") == 0.0


def test_a_sentence_that_writes_the_question_words_together_is_more_relevant():
    question = "Which output format supports parallel jobs?"
    together = "The directory output format is the only one that supports parallel jobs."
    apart = "The format of the output supports parallel jobs."
    ev = {e.sentence: e.lexical for e in gather(question, [_hit(f"{together} {apart}")])}
    assert ev[together] > ev[apart]


def test_a_question_about_what_happens_when_nothing_is_set_wants_the_default():
    q = read_question("If I never set it, how long does the broker wait for a reply?")
    assert q.expects("The default is 30 seconds.") == 1.0
    assert q.expects("It can be set between 1 and 60 seconds.") == 0.5
    plain = read_question("How long can the broker wait for a reply?")
    assert plain.expects("It can be set between 1 and 60 seconds.") == 1.0
    codec = read_question("Out of the box, which codec does the broker use?")
    assert codec.expects("The default codec is zstd.") == 1.0


def test_a_sentence_naming_what_which_asks_for_is_more_relevant(monkeypatch):
    question = "Which archive layout do I have to pick for parallel jobs?"
    assert read_question(question).focus == ["archiv", "layout"]
    assert read_question("What is the largest value?").focus == []
    names = "Parallel jobs need the directory archive layout."
    holds = "Parallel jobs write the archive in any layout you pick."
    ev = {e.sentence: e.lexical for e in gather(question, [_hit(f"{names} {holds}")])}
    assert ev[names] > ev[holds]
    weight = evidence.FOCUS_WEIGHT
    monkeypatch.setattr(evidence, "FOCUS_WEIGHT", 0.0)
    without = {e.sentence: e.lexical for e in gather(question, [_hit(f"{names} {holds}")])}
    assert ev[names] - without[names] == pytest.approx(weight) and ev[holds] == without[holds]


def test_a_term_the_question_negates_counts_for_no_sentence():
    question = "Where does the space freed by an ordinary (non-COMPACT) sweep go?"
    q = read_question(question)
    assert "compact" not in q.terms and "non" not in q.terms and "sweep" in q.terms
    assert "COMPACT" in q.names  # still a name the passages must mention (refusal.py)
    plain = "A plain sweep marks the freed space for reuse."
    other = "A COMPACT sweep returns the freed space to the system."
    ev = {e.sentence: e.lexical for e in gather(question, [_hit(f"{plain} {other}")])}
    assert ev[plain] >= ev[other]
    assert "edit" in read_question("How do I change it without editing the file?").terms  # no modifier


def test_a_sentence_that_announces_what_follows_brings_it():
    text = (
        "Every path reads fields from a document. "
        "A missing field in a path is a structural error. "
        "Reading a missing field through a path works in two modes:\n\n"
        "the lenient one quietly turns the error into an empty result."
    )
    answer = _answer("What happens when a path reads a missing field?", _hit(text))
    assert "quietly turns the error into an empty result" in answer


def test_a_cross_reference_number_is_no_quantity():
    q = read_question("How many workers can the broker start at most?")
    assert q.expects("Table 8.4 shows the settings of the broker; see Section 20.4.4 and RFC 9110.") == 0.0
    assert q.expects("It starts at most 64 workers (see Section 20.4.4).") == 1.0


def test_the_asking_sentence_counts_more_than_the_setting_before_it(monkeypatch):
    question = "I edited broker.ini by hand. How do I make the running broker take the change without stopping it?"
    assert read_question(question).setting == ["edit", "ini", "hand"]
    about_file = "Editing the ini file by hand is an alternative to the admin console."
    answers = "Send the reload signal: the change takes effect at once."
    ev = {e.sentence: e.lexical for e in gather(question, [_hit(f"{about_file} {answers}")])}
    assert ev[answers] > ev[about_file]
    monkeypatch.setattr(evidence, "SETTING_WEIGHT", 1.0)  # every term alike: the file's sentence wins
    ev = {e.sentence: e.lexical for e in gather(question, [_hit(f"{about_file} {answers}")])}
    assert ev[answers] < ev[about_file]


@pytest.mark.parametrize(
    ("question", "written", "unwritten"),
    [
        ("Which operator joins two paths?", "path <+> path → path", "The path operators join paths."),
        ("Is there a built-in role that can read every queue?", "queue_reader | Reads all queues.", "Roles read."),
        ("Which error code tells a client to retry?", "It always carries the code 40001.", "Clients retry."),
        ("Which option skips the owners?", "-O --no-owner: Do not set owners.", "Owners are skipped then."),
        ("What function trims a string?", "btrim(string) removes spaces.", "Strings are trimmed."),
    ],
)
def test_a_sentence_that_writes_what_which_asks_for_is_expected(question, written, unwritten):
    """A sentence that writes the thing asked for as such things are written (an operator in
    symbols, a role with underscores ...) carries the answer; one that only speaks of it less."""
    q = read_question(question)
    assert q.expects(written) == 1.0
    assert q.expects(unwritten) < 1.0
    assert read_question("How do I trim a string?").shape is None


def test_a_purpose_is_a_reason():
    """ "Why do people wrap a dry run in a transaction?" is answered by what the wrapping is for."""
    q = read_question("Why do people wrap a dry run in a transaction?")
    assert q.expects("If you wish to run it without letting it change your data, use this approach:") == 1.0
    assert q.expects("The dry run causes the statement to be executed.") == 1.0
    assert q.expects("A transaction groups statements.") == 0.0


def test_a_word_like_the_thing_asked_for_is_no_sign_when_it_has_a_shape(monkeypatch):
    """ "Which setting ...?" is answered by a setting written as one (listen_ports), not by the
    verb "set" that the stem of "setting" also matches."""
    question = "Which setting do I change so the broker listens on every port?"
    boiler = "This parameter can only be set when the broker starts."
    answer = "The special entry * in listen_ports makes the broker listen on every port."
    ev = {e.sentence: e for e in gather(question, [_hit(f"{boiler} {answer}")])}
    monkeypatch.setattr(evidence, "FOCUS_WEIGHT", 0.0)
    plain = {e.sentence: e for e in gather(question, [_hit(f"{boiler} {answer}")])}
    assert ev[boiler].lexical == plain[boiler].lexical  # no reward for "set"
    assert ev[answer].expected == 1.0 and ev[boiler].expected < 1.0


def test_a_question_about_a_bound_wants_a_sentence_that_states_one():
    q = read_question("What is the largest message the broker accepts?")
    assert q.expects("The broker has two queues for incoming messages.") == LIMIT_MISS  # a number, no bound
    assert q.expects("A message cannot exceed 16 MB.") == 1.0
    assert q.expects("Messages of up to 16 MB are accepted.") == 1.0
    assert q.expects("Sizes from 1 to 16 MB are accepted.") == 1.0
    assert read_question("How long does the broker wait?").expects("It waits two seconds.") == 1.0  # no bound asked
    answer = _answer(
        "What is the largest message the broker accepts?",
        _hit(
            "The broker accepts messages on two ports. "
            "Every message the broker accepts is written to the journal first. "
            "Notes on message size follow below. "
            "A message larger than 16 MB is refused with an error."
        ),
    )
    assert "16 MB" in answer


def test_an_answer_opens_on_the_sentence_its_first_one_leans_on():
    text = (
        "Each tenant gets a queue of its own. "
        "The broker schedules queues in turn. "
        "That means a busy tenant never delays the messages of a quiet tenant. "
        "Delays come from slow disks and full queues. "
        "A full queue refuses new messages until it drains."
    )
    answer = _answer("Why does a busy tenant never delay the messages of a quiet tenant?", _hit(text))
    assert answer.startswith("The broker schedules queues in turn [1]. That means")


def test_a_code_block_comes_with_the_sentence_that_introduces_it():
    text = (
        "Use a command like:\n\n```\nbroker keys rotate --all\n```\n\n"
        "Rotating the signing keys of the broker takes effect at once. "
        "The old signing keys of the broker stay valid for a day. "
        "Clients pick up the rotated signing keys of the broker on their next connection."
    )
    answer = _answer("How do I rotate the signing keys of the broker?", _hit(text))
    assert answer.startswith("Use a command like:")  # not the command without what it is for
    assert "broker keys rotate --all" in answer


def test_a_question_about_how_something_decides_wants_the_rule_it_applies():
    q = read_question("How does the collector decide that a heap has grown enough to need a sweep?")
    assert q.kind == "criterion"
    assert q.expects("If the number of freed blocks exceeds the sweep threshold, the heap is swept.") == 1.0
    assert q.expects("The sweep threshold is defined as:") == 1.0
    assert q.expects("The collector can use at most 1GB of memory for its work.") == 0.0  # a bound, not a rule
    assert read_question("How do I decide which heap size to pick?").kind != "criterion"
    memory = ("Memory", "The collector uses up to 1GB of memory for a sweep of a heap. Sweeps run by hand ignore it.")
    rule = (
        "Collector",
        "Each heap is checked once a minute. If its count of freed blocks exceeds the sweep threshold, it is swept.",
    )
    answer = _answer(
        "How does the collector decide that a heap has grown enough to need a sweep?", *_sections(memory, rule)
    )
    assert "exceeds the sweep threshold" in answer


def test_a_difference_question_wants_the_sentence_that_sets_both_apart():
    q = read_question("What is the practical difference between START JOB and CREATE JOB?")
    assert q.kind == "difference"
    assert "differ" not in q.terms and "between" not in q.terms  # how it is asked, not what about
    assert q.expects("START JOB is the same as CREATE JOB except that it runs the job at once.") == 1.0
    assert q.expects("START JOB and CREATE JOB both take a name.") == 0.0  # both named, nothing set apart
    assert read_question("How does START JOB differ from CREATE JOB?").kind == "difference"
    notes = (
        "Notes",
        "Be careful with the job privilege. A job can create a job with different privileges than its own.",
    )
    usage = (
        "Jobs",
        "To make a job, use either command. (START JOB is the same as CREATE JOB except that it runs at once.)",
    )
    answer = _answer(
        "What is the practical difference between START JOB and CREATE JOB?", *_sections(notes, usage, first_dense=0.62)
    )
    assert "except that it runs at once" in answer
