"""Phone numbers in national formats (guard/phones.py through the PII detector): found for several
regions without a country code or a phone word, while dates, amounts, years, DOIs, postcodes and
identifiers stay unflagged. The "found" cases fail on the detector before the national check
(PiiDetector(national_phones=False) misses every one of them: bench/guard_phones.py)."""

from __future__ import annotations

import pytest

from ragwright.guard.phones import NationalPhones, looks_like_other
from ragwright.guard.pii import PiiDetector


@pytest.fixture(scope="module")
def patterns() -> PiiDetector:
    detector = PiiDetector(names=False)
    detector.warm_up()
    return detector


def phones(detector: PiiDetector, text: str) -> list[str]:
    return [s.text for s in detector.scan(text) if s.label == "PHONE_NUMBER"]


@pytest.mark.parametrize(
    ("number", "region"),
    [
        ("020 7946 0018", "GB"),
        ("0412 345 678", "AU"),
        ("06 12 34 56 78", "FR"),
        ("030 1234567", "DE"),
        ("080-9141-7776", "JP"),
        ("010-1234-5678", "KR"),
        ("98765 43210", "IN"),
        ("518 246 281", "PL"),
    ],
)
def test_national_formats_found_without_a_phone_word(patterns: PiiDetector, number: str, region: str) -> None:
    assert region in NationalPhones().regions(number)
    assert phones(patterns, f"You can get Maria on {number} most afternoons.") == [number]


@pytest.mark.parametrize(
    "text",
    [
        "Samples were taken on 12.03.1985 and on 2009 01 02.",
        "The grant was 1 234 567 EUR, over 125 000 000 people, 518,246,281 in all.",
        "Enrolment ran between 1990-2005 and 1996-1999 (J Biol Chem 2784-2799, pages 3211-3216).",
        "See doi:10.1016/j.cell.2009.01.002 and 10.1371 2345 678.",
        "Send it to SW1A 1AA London or 10115 Berlin.",
        "ISBN 978-3-16-148410-0; PMID 21645374; trial NCT01234567 enrolled 1 024 patients.",
        "Sample id 4711 0815, order no. 0412 345 678 and batch 2023 118.",
        "The values were 0.12 0.34 0.56 0.78 at 12:30 14:45 and 16:00.",
        "I need to add my address: 370 3911 Fourth Avenue Suite 697.",
    ],
)
def test_numbers_of_other_kinds_are_not_phones(patterns: PiiDetector, text: str) -> None:
    assert phones(patterns, text) == []


def test_looks_like_other_tells_amounts_from_polish_mobiles() -> None:
    assert looks_like_other("1 234 567") and looks_like_other("125 000 000") and looks_like_other("2,500,000")
    assert not looks_like_other("518 246 281") and not looks_like_other("0412 345 678")


def test_regions_can_be_limited_and_a_plus_number_is_not_national() -> None:
    assert NationalPhones(["AU"]).regions("020 7946 0018") == ()
    assert "GB" in NationalPhones(["GB", "AU"]).regions("020 7946 0018")
    assert NationalPhones().regions("+44 20 7946 0018") == ()


def test_before_the_national_check_these_were_missed() -> None:
    old = PiiDetector(names=False, national_phones=False)
    assert phones(old, "You can get Maria on 0412 345 678 most afternoons.") == []
