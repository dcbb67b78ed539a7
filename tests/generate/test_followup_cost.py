"""The follow-up carry-over's cost (review 16, finding B). It runs on every ask with a history,
model or not, on up to MAX_TURNS history turns (20,000 characters each over HTTP) and the question.
`_anaphors` re-scanned every earlier word for each word (quadratic: 15.7 s of CPU for two turns of
"it it it ..."), and `_split_end`'s re.search(r"\\s*[?.!]*\\s*$") was cubic in a run of spaces (70 s
for a 4,000-character question, ~4.7 s for one of 1,600 spaces). Now each is linear, a turn is read
as far as a question may go, and the results are those of the old code: its functions are copied
here as the reference and compared on real and random inputs."""

from __future__ import annotations

import random
import re
import time

import pytest

from ragwright import Settings, Workspace
from ragwright.config import AnswerSettings, GatewaySettings, ModelSettings, RouteSettings
from ragwright.errors import QuestionError
from ragwright.generate import followup
from ragwright.generate.followup import MAX_TURNS, Turn, carry_over
from tests.generate.test_followup import FOLLOW_UPS, SAMPLE_FOLLOW_UPS, STANDALONE
from tests.provider_server import ProviderServer

# -- the reference: the old code, as it was before the fix (7ea3f2c) -------------------------------

AUX, NOUNS = followup._AUX, followup._NOUNS
_OLD_TAIL = re.compile(r"\b(?:too|as well|instead|then)\s*[?.!]*\s*$", re.IGNORECASE)


def old_anaphors(tokens: list[str]) -> list[int]:
    found = []
    for i, token in enumerate(tokens):
        word = token.lower()
        if any(followup._is_name(t, j) for j, t in enumerate(tokens[:i])):
            break
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else None
        prev = tokens[i - 1].lower() if i else None
        if word == "it" and (
            {nxt, prev} & followup._EXPLETIVE
            or (nxt in AUX and i + 2 < len(tokens) and tokens[i + 2].lower() in followup._EXPLETIVE)
        ):
            continue
        if word == "that" and not (nxt is None or nxt in AUX or nxt in followup._ASPECT or nxt in NOUNS or prev in AUX):
            continue
        if word in followup._PRONOUNS or word == "that":
            found.append(i)
    return found


def old_split_end(text: str) -> tuple[str, str]:
    match = re.search(r"\s*[?.!]*\s*$", text)
    cut = match.start() if match else len(text)
    return text[:cut], text[cut:].strip() or "?"


def old_elliptical(question: str) -> bool:
    return bool(followup._LEAD.match(question) or _OLD_TAIL.search(question))


# -- inputs -----------------------------------------------------------------------------------------

REAL = sorted(
    {q for history, question, *_ in [*FOLLOW_UPS, *SAMPLE_FOLLOW_UPS] for q in [*history, question]}
    | {q for history, question in STANDALONE for q in [*history, question]}
)
_LINES = (
    "it its this that these those they them he one ones is are does can will was possible safe better",
    "true the a of to for and what how why when default limit timeout function option flag value",
    "vacation days employees cache keys HTTP PostgreSQL Docker Kubernetes MySQL I you we json.dumps",
    "lru_cache `x` f() std::vector initialDelaySeconds re.VERBOSE And Or Also Then too instead",
    "as well then same for what about how about likewise 42 ? . ! ... ?! , -",
)
VOCABULARY = [word for line in _LINES for word in line.split()] + ["as well", "what about", ""]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\x1c", " \n "]


def random_text(rng: random.Random, words: int) -> str:
    parts = []
    for _ in range(words):
        word = rng.choice(VOCABULARY)
        if rng.random() < 0.05:  # noise: capitals, punctuation and letters anywhere
            word = "".join(rng.choice("aZ_.?!`(): \u00e9x") for _ in range(rng.randint(1, 4)))
        parts.append(word)
        parts.append(rng.choice(SPACES))
    return "".join(parts) + rng.choice(["", "?", " ?", "?  ", ". ", "!?\n", " too?", " then", " as well ?"])


def random_inputs(n: int, seed: int = 16) -> list[str]:
    rng = random.Random(seed)
    return [random_text(rng, rng.randint(0, 30)) for _ in range(n)]


# -- the same results -------------------------------------------------------------------------------


def test_the_linear_helpers_give_the_old_results_on_real_and_random_inputs():
    texts = [*REAL, *random_inputs(3000), "", " ", "?", "  ?! ", "a?  ?", "Why too", "x\n"]
    for text in texts:
        tokens = followup._tokens(text)
        assert followup._anaphors(tokens) == old_anaphors(tokens), text
        assert followup._split_end(text) == old_split_end(text), repr(text)
        assert followup._elliptical(text) == old_elliptical(text), repr(text)
    # and over many more token lists than questions hold, names early and late
    rng = random.Random(7)
    for _ in range(3000):
        tokens = [rng.choice([w for w in VOCABULARY if w.strip()]) for _ in range(rng.randint(0, 60))]
        assert followup._anaphors(tokens) == old_anaphors(tokens), tokens


def rewrites(history: list[Turn], question: str) -> tuple[str, str, str]:
    r = carry_over(question, history)
    return r.question, r.original, r.method


def test_whole_carry_overs_are_unchanged_within_the_bounds(monkeypatch):
    """Each conversation rewritten by the new code, then by the same module with the old helpers
    put back: the same rewrite, method and all (turns shorter than max_chars: nothing clipped)."""
    rng = random.Random(3)
    random_turns = random_inputs(1200, seed=5)
    conversations = [(history, question) for history, question, *_ in [*FOLLOW_UPS, *SAMPLE_FOLLOW_UPS]]
    conversations += STANDALONE
    conversations += [
        ([rng.choice([*REAL, *random_turns]) for _ in range(rng.randint(1, 10))], rng.choice([*REAL, *random_turns]))
        for _ in range(600)
    ]
    cases = [([Turn("user", q) for q in history], question) for history, question in conversations]
    new = [rewrites(history, question) for history, question in cases]
    with monkeypatch.context() as m:
        m.setattr(followup, "_anaphors", old_anaphors)
        m.setattr(followup, "_split_end", old_split_end)
        m.setattr(followup, "_elliptical", old_elliptical)
        old = [rewrites(history, question) for history, question in cases]
    assert new == old
    assert sum(method == "carry-over" for *_, method in new) > 100  # the rewrite did work on many of them


# -- the cost ---------------------------------------------------------------------------------------


def cpu(fn, *args) -> float:
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


IT_TURN = ("it " * 6666)[:20000]
SPACED = "What is it" + " " * 19980 + "x?"  # a run of spaces not at the end: cubic in _split_end
WORDS = " ".join("".join(random.Random(i).choice("abcdefghij") for _ in range(6)) for i in range(3000))[:20000]


@pytest.mark.parametrize(
    ("history", "question"),
    [
        # the reviewer's input at the server's bounds: 8 user turns of 20,000 characters, a 4,000 question
        ([Turn("user", IT_TURN)] * MAX_TURNS, ("it " * 1333)[:4000]),
        ([Turn("user", "How many vacation days do we get?")], "Is it" + " " * 3990 + "fast?"),
        ([Turn("user", "How many vacation days do we get?"), *[Turn("user", SPACED)] * MAX_TURNS], "And then?"),
        ([Turn("user", WORDS)] * MAX_TURNS, WORDS[:4000]),
        ([Turn("user", "What does json.dumps do?"), *[Turn("user", IT_TURN)] * 10], "x" + " it" * 1333),
    ],
    ids=["it-turns", "spaced-question", "spaced-turns", "lower-case-words", "twelve-turns"],
)
def test_the_worst_inputs_cost_milliseconds(history, question):
    """Before: 8 turns of "it" ~105 s (15.7 s measured for 2), the spaced question of 4,000
    characters ~70 s. Now each ~1-40 ms; 1 s is the regression guard."""
    assert cpu(carry_over, question, history) < 1.0


def test_a_question_over_the_limit_is_not_read():
    question = ("it " * 10000)[:30000]  # a rag: chat's last message had no bound before the rewrite
    assert cpu(carry_over, question, [Turn("user", "What does json.dumps do?")]) < 0.01
    assert carry_over(question, [Turn("user", "What does json.dumps do?")]).method == "unchanged"


def test_an_ask_checks_the_questions_length_before_the_rewriter_reads_it(tmp_path, embedder):
    """A question over [answer] max_question_chars with a history: refused before the follow-up
    rewrite, so the rewriter's model is never sent it (before: it was, then the ask refused)."""
    with ProviderServer(reply=lambda body: "What does json.dumps do?") as provider:
        settings = Settings(
            data_dir=tmp_path / "data",
            models={"m": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=5)},
            routes={"default": RouteSettings(models=["m"])},
            answer=AnswerSettings(model="default"),
            gateway=GatewaySettings(max_retries=0, cache=False),
        )
        ws = Workspace(settings=settings, embedder=embedder)
        history = [Turn("user", "What does json.dumps do?"), Turn("assistant", "It serializes.")]
        with pytest.raises(QuestionError, match="4,001 characters"):
            ws.ask("Does it sort keys " + "x" * 3983, history=history)
        with pytest.raises(QuestionError, match="empty"):
            ws.ask("   ", history=history)
        ws.close()
        assert provider.count() == 0
