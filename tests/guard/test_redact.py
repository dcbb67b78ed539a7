"""Redaction modes, pseudonym round trips (also through a detector and a streamed answer), the
defensive restore, secrets, and ingestion's guard_document."""

from __future__ import annotations

import pytest

from ragwright.guard.pii import PiiDetector, PiiSpan
from ragwright.guard.redact import Pseudonymizer, entropy, find_secrets, guard_document, redact

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
TEXT = "John Smith met john  smith and Mary at ACME. Mail john@x.com or mary@y.org"


def span(text: str, value: str, label: str, nth: int = 0) -> PiiSpan:
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return PiiSpan(start, start + len(value), label, 1.0, value)


SPANS = [
    span(TEXT, "John Smith", "PERSON"),
    span(TEXT, "john  smith", "PERSON"),
    span(TEXT, "Mary", "PERSON"),
    span(TEXT, "ACME", "ORGANIZATION"),
    span(TEXT, "john@x.com", "EMAIL_ADDRESS"),
    span(TEXT, "mary@y.org", "EMAIL_ADDRESS"),
]


def test_modes() -> None:
    assert redact(TEXT, SPANS, "placeholder") == (
        "<PERSON> met <PERSON> and <PERSON> at <ORGANIZATION>. Mail <EMAIL_ADDRESS> or <EMAIL_ADDRESS>"
    )
    masked = redact("Call Ann\nLee now", [PiiSpan(5, 12, "PERSON", 1.0, "Ann\nLee")], "mask")
    assert masked == "Call ***\n*** now"
    with pytest.raises(ValueError):
        redact(TEXT, SPANS, "shred")  # type: ignore[arg-type]


def test_same_value_same_placeholder_numbered_per_label() -> None:
    p = Pseudonymizer()
    out = p.pseudonymize(TEXT, SPANS)
    assert out == (
        "<PERSON_1> met <PERSON_1> and <PERSON_2> at <ORGANIZATION_1>. Mail <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS_2>"
    )
    # Later text in the same request reuses the numbering; a new request starts again.
    assert p.pseudonymize("Mary again", [PiiSpan(0, 4, "PERSON", 1.0, "Mary")]) == "<PERSON_2> again"
    assert Pseudonymizer().pseudonymize("Mary again", [PiiSpan(0, 4, "PERSON", 1.0, "Mary")]) == "<PERSON_1> again"


def test_round_trip_restores_the_original_text() -> None:
    p = Pseudonymizer()
    hidden = p.pseudonymize(
        "Mary wrote to mary@y.org about ACME.",
        [
            PiiSpan(0, 4, "PERSON", 1, "Mary"),
            PiiSpan(14, 24, "EMAIL_ADDRESS", 1, "mary@y.org"),
            PiiSpan(31, 35, "ORGANIZATION", 1, "ACME"),
        ],
    )
    assert "Mary" not in hidden and "mary@y.org" not in hidden
    assert p.restore(hidden) == "Mary wrote to mary@y.org about ACME."


@pytest.mark.parametrize(
    "echo",
    [
        "<PERSON_1>",
        "< PERSON_1 >",
        "<person_1>",
        "[PERSON_1]",
        "{PERSON-1}",
        "<PERSON 1>",
        "&lt;PERSON_1&gt;",
        "\\<PERSON\\_1\\>",
        "PERSON_1",
        "<Person_01>",
    ],
)
def test_restore_accepts_loosely_echoed_placeholders(echo: str) -> None:
    p = Pseudonymizer()
    p.placeholder("Ingrid Bergström", "PERSON")
    assert p.restore(f"Dear {echo}, thanks.") == "Dear Ingrid Bergström, thanks."


def test_restore_leaves_unknown_placeholders_and_prose_alone() -> None:
    p = Pseudonymizer()
    p.placeholder("Ingrid", "PERSON")
    p.placeholder("a@b.com", "EMAIL_ADDRESS")
    text = "<PERSON_7> and <LOCATION_1> stay; the first person 1 in line; page 3; <EMAIL ADDRESS 1>."
    assert p.restore(text) == "<PERSON_7> and <LOCATION_1> stay; the first person 1 in line; page 3; a@b.com."
    assert Pseudonymizer().restore("<PERSON_1>") == "<PERSON_1>"


def test_restore_stream_never_shows_half_a_placeholder() -> None:
    p = Pseudonymizer()
    p.placeholder("Ingrid", "PERSON")
    p.placeholder("ingrid@example.com", "EMAIL_ADDRESS")
    pieces = ["Hi <PER", "SON_1>, write to <EMAIL_", "ADDRESS_1> or ask PERS", "ON_1 herself."]
    out = list(p.restore_stream(pieces))
    assert "".join(out) == "Hi Ingrid, write to ingrid@example.com or ask Ingrid herself."
    assert not any("<" in piece or "PERS" in piece for piece in out)


def test_round_trip_through_the_detector() -> None:
    detector = PiiDetector(names=False)
    text = "Reach me on +44 20 7946 0958 or at anna.k@example.com; card 4111 1111 1111 1111."
    p = Pseudonymizer()
    hidden = p.pseudonymize(text, detector.scan(text))
    assert hidden == "Reach me on <PHONE_NUMBER_1> or at <EMAIL_ADDRESS_1>; card <CREDIT_CARD_1>."
    answer = "I will call <phone_number_1> and mail < EMAIL_ADDRESS_1 >."
    assert p.restore(answer) == "I will call +44 20 7946 0958 and mail anna.k@example.com."


# -- secrets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,label,value",
    [
        ("OPENAI_API_KEY=sk-proj-abcDEF1234567890abcdefGHIJ", "API_KEY", "sk-proj-abcDEF1234567890abcdefGHIJ"),
        ("key: sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123", "API_KEY", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123"),
        ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
        (
            "use ghp_1234567890abcdefghijABCDEFGHIJ123456 for CI",
            "GITHUB_TOKEN",
            "ghp_1234567890abcdefghijABCDEFGHIJ123456",
        ),
        (
            "SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "SLACK_TOKEN",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        ),
        ("t=" + JWT, "JWT", JWT),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "SECRET",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ('db_password = "hunter2!x"', "SECRET", "hunter2!x"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456", "SECRET", "abcdefghijklmnopqrstuvwxyz123456"),
    ],
)
def test_secret_formats(text: str, label: str, value: str) -> None:
    assert [(s.label, s.text) for s in find_secrets(text)] == [(label, value)]


def test_private_key_blocks() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"
    found = find_secrets(f"config:\n{pem}\nand\n{pgp}\n-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----")
    assert [(s.label, s.text) for s in found] == [("PRIVATE_KEY", pem), ("PRIVATE_KEY", pgp)]


@pytest.mark.parametrize(
    "text",
    [
        "The key is important and the token: sample.",
        "api_key = ${OPENAI_API_KEY}",
        "password: <your password>",
        'token = os.environ["TOKEN"]',
        "secret = changeme",
        "api_key = aaaaaaaaaaaaaaaaaaaaaaaa",
        "session_token: abcdefghijklmnopqrst",
        "sk-short",
        "AKIA1234",
    ],
)
def test_no_secret_in_prose_placeholders_or_low_entropy_values(text: str) -> None:
    assert find_secrets(text) == []


def test_entropy_orders_random_above_words() -> None:
    assert entropy("x8Kq2Lm9Zp4Rt7Vw1Yb3Nc6D") > 4.0 > entropy("passwordpassword")


def test_guard_document_flags_by_default_and_redacts_when_asked() -> None:
    text = "Deploy with AKIAIOSFODNN7EXAMPLE; contact anna.k@example.com."
    flagged = guard_document(text)
    assert flagged.text == text and [s.label for s in flagged.secrets] == ["AWS_ACCESS_KEY"] and flagged.pii == []
    redacted = guard_document(text, redact_secrets=True, pii_mode="placeholder", detector=PiiDetector(names=False))
    assert redacted.text == "Deploy with <AWS_ACCESS_KEY>; contact <EMAIL_ADDRESS>."
    assert [s.label for s in redacted.pii] == ["EMAIL_ADDRESS"]
    with pytest.raises(ValueError):
        guard_document(text, pii_mode="pseudonym")
