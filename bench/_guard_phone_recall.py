"""Per-region phone recall for bench/guard.py: the shipped PII detector (patterns only) on national
numbers generated in each Faker locale's formats and on phonenumbers' example number of each region,
beside the detector without the national check (bench/guard_phones.py has the full comparison,
false alarms and cost)."""

from __future__ import annotations

from typing import Any

from guard_phones import example_numbers, faker_numbers, recall, summary_rows

from ragwright.guard.pii import PiiDetector

HEADER = ["system", "numbers", "R, no phone word", "R, phone word", "keys at 1.0", "keys at 0", "keys"]


def phone_recall(per_locale: int = 10) -> dict[str, Any]:
    """Recall per Faker locale and per phonenumbers region, before and after the national check."""
    dets = {
        "without national check": PiiDetector(names=False, national_phones=False),
        "shipped": PiiDetector(names=False),
    }
    for d in dets.values():
        d.scan("warm up 020 7946 0018")
    sources = {"faker locales": faker_numbers(per_locale), "phonenumbers regions": example_numbers()}
    return {src: recall(dets, nums) for src, nums in sources.items()}


def locale_rows(rec: dict[str, Any]) -> list[list[Any]]:
    """One row per Faker locale: recall without a phone word, before -> shipped."""
    after = rec["faker locales"]["shipped / no phone word"]["per_key"]
    before = rec["faker locales"]["without national check / no phone word"]["per_key"]
    return [[k, round(before[k], 2), round(after[k], 2)] for k in after]


__all__ = ["HEADER", "locale_rows", "phone_recall", "summary_rows"]
