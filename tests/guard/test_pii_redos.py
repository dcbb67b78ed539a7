"""The PII scan on dotted text: Presidio's URL regex tried its 675 top-level domains one after
another after every dot of every start's 253 characters, 2.7 ms a character of "a." repeated
(an 8 KB chat message to a redacting model: 20 s in the URL recognizer alone), and its e-mail
regex scanned from every start of a run of local-part characters to an "@" at its end
(8 KB 3.3 s, 16 KB 99 s). The URL recognizer now tests for a domain name first
(patterns.tld_guarded), the e-mail one tries the pattern at one start per "@"
(patterns.email_spans); what they match is unchanged."""

from __future__ import annotations

import random
import time

import regex
from presidio_analyzer.predefined_recognizers import EmailRecognizer, UrlRecognizer

from ragwright.guard._pii.patterns import email_spans
from ragwright.guard._pii.recognizers import Url

ORIGINAL = [regex.compile(p.regex) for p in UrlRecognizer.PATTERNS]
GUARDED = [regex.compile(p.regex) for p in Url().patterns]
ATOMS = ["a", "z", ".", "-", "com", "co", "community", "www", "www1.", "https://", "/", " ", '"', "'", "uk", "Co"]
ATOMS += ["x/y", "(", "1", "org", "in", "sh", "shop", "zw", "ac", "academy", "é"]


def _matches(patterns: list[regex.Pattern[str]], text: str) -> list[list[tuple[tuple[int, int], tuple]]]:
    return [[(m.span(), m.groups()) for m in p.finditer(text)] for p in patterns]


def test_the_guarded_patterns_match_exactly_what_presidios_do() -> None:
    rng = random.Random(7)
    texts = ["see www.example.com/path and x.community, 'https://a.b.co.uk' or notes.md"]
    texts += ["".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    for text in texts:
        assert _matches(GUARDED, text) == _matches(ORIGINAL, text), text


def _took(patterns: list[regex.Pattern[str]], text: str) -> float:
    t0 = time.perf_counter()
    _matches(patterns, text)
    return time.perf_counter() - t0


def test_dotted_text_costs_a_fraction_of_what_it_did() -> None:
    for unit in ("a.", "zz.", "www.a."):
        text = unit * (1000 // len(unit))
        assert _took(GUARDED, text) * 4 < _took(ORIGINAL, text), unit  # measured: 15x


EMAIL = EmailRecognizer.PATTERNS[0].regex
FLAGS = regex.DOTALL | regex.MULTILINE | regex.IGNORECASE
EMAIL_ATOMS = ["a", "B", "1", "_", ".", "-", "+", "@", "@", "x.com", "co", " ", "\n", "é", "'", "!", "..", "a@b.c", "ǅ"]


def _email_finditer(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in regex.compile(EMAIL, FLAGS).finditer(text) if m.end() > m.start()]


def test_email_spans_are_presidios_matches() -> None:
    rng = random.Random(3)
    texts = ["mail anna.k@example.com, bob+x@mail.co.uk; not a@b or @x.com", "x@a.b-@c.de"]
    texts += ["".join(rng.choice(EMAIL_ATOMS) for _ in range(rng.randint(1, 30))) for _ in range(5000)]
    for text in texts:
        assert email_spans(text, EMAIL, FLAGS) == _email_finditer(text), text


def test_a_long_local_part_before_an_at_sign_takes_milliseconds() -> None:
    for unit in ("a.", "a-", ".a"):
        text = unit * 8000 + "@"  # the regex alone: 99 s
        t0 = time.perf_counter()
        email_spans(text, EMAIL, FLAGS)
        assert time.perf_counter() - t0 < 1.0, unit
