"""Organisations by legal form (guard/orgs.py): the suffix makes the run before it one
ORGANIZATION, a PERSON the tagger saw there is replaced, addresses and plain text are left alone."""

from __future__ import annotations

import pytest

from ragwright.guard.orgs import with_organisations


def orgs(text: str, names: list[tuple[int, int, str, float]] | None = None) -> list[tuple[str, str]]:
    return [(text[a:b], label) for a, b, label, _ in with_organisations(text, names or [])]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("She joined Pixia Corp. in 2019.", "Pixia Corp."),
        ("Invoices go to Civic Impulse LLC, not to us.", "Civic Impulse LLC"),
        ("48 Factoring Inc bought the building.", "48 Factoring Inc"),
        ("Er arbeitet bei der Müller Logistik GmbH in Bremen.", "Müller Logistik GmbH"),
        ("Payment from Banco Azul S.A. arrived.", "Banco Azul S.A."),
        ("He works for stillwater supercomputing inc. since 2019.", "stillwater supercomputing inc."),
        ("Bank of America Corp. reported earnings.", "Bank of America Corp."),
        ("Ask at Smith & Co. about it.", "Smith & Co."),
        ("Siemens AG and Acme, Ltd. signed.", "Siemens AG"),
    ],
)
def test_a_legal_form_makes_an_organisation(text: str, org: str) -> None:
    assert (org, "ORGANIZATION") in orgs(text)


def test_a_person_the_tagger_saw_before_a_suffix_becomes_the_organisation() -> None:
    text = "Aristóteles spent a year at Conway Inc. as an assistant. Contact Conway Inc. now."
    at = text.index("Conway")
    again = text.index("Conway", at + 1)
    got = orgs(text, [(0, 11, "PERSON", 0.9), (at, at + 6, "PERSON", 0.8), (again, again + 6, "PERSON", 0.8)])
    assert got == [("Aristóteles", "PERSON"), ("Conway Inc.", "ORGANIZATION"), ("Conway Inc.", "ORGANIZATION")]


def test_plain_text_people_and_addresses_are_left_alone() -> None:
    assert orgs("We met at the company picnic in June.") == []
    assert orgs("Set the switch to AG mode and the Co. pilot takes over.") == []
    text = "John and Mary Smith went home."
    names = [(0, 4, "PERSON", 0.9), (9, 19, "PERSON", 0.9)]
    assert orgs(text, names) == [("John", "PERSON"), ("Mary Smith", "PERSON")]
    addr = "Acme Ltd., 12 High Street, Leeds"
    kept = [(0, len(addr), "STREET_ADDRESS", 0.9)]
    assert with_organisations(addr, kept) == kept


def test_an_employer_named_in_context_is_an_organisation_but_a_person_stays_a_person() -> None:
    text = "I work for Socrata these days."
    assert orgs(text, [(11, 18, "LOCATION", 0.9)]) == [("Socrata", "ORGANIZATION")]
    assert orgs("Since May she is employed by Walk Score.") == [("Walk Score", "ORGANIZATION")]
    assert orgs("The U.N. office is at 2519 Semperweg 1") == [("U.N.", "ORGANIZATION")]
    person = "I work for John Smith."
    assert orgs(person, [(11, 21, "PERSON", 0.9)]) == [("John Smith", "PERSON")]
    paris = "Contact the Paris office today."
    assert orgs(paris, [(12, 17, "LOCATION", 0.9)]) == [("Paris", "LOCATION")]
    assert orgs("Our office is closed. I work for the government.") == []
