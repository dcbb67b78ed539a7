"""The tuned Presidio recognizers of guard/pii.py, each fixing a miss or mislabel of the stock one
on the PII dev set, as its docstring says. Importing this module imports Presidio, spaCy,
phonenumbers and tldextract (about a second): pii.py imports it on the first scan only."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import phonenumbers
import tldextract
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import (
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UrlRecognizer,
    UsBankRecognizer,
    UsSsnRecognizer,
)

from ..phones import national_phones as national_phones_checker
from .patterns import (
    CAPITAL_AFTER,
    CARD_CONTEXT,
    CARD_IIN,
    FILE_TLDS,
    ID_BEFORE,
    LOWER_IBAN,
    MONTH,
    PHONE_CONTEXT,
    PHONE_RE,
    PHONE_STRONG,
    email_spans,
    luhn,
    tld_guarded,
)


def build_recognizers(national_phones: bool = True) -> list[Any]:
    """The tuned recognizers; national_phones=False leaves out the national-format phone check
    (phones.py), as before it: the bench's comparison."""
    return [
        Card(),
        OfflineEmail(),
        Phone(national_phones),
        Iban(),
        UsSsnRecognizer(),
        Ip(),
        Url(),
        DateRecognizer(),
        date_time(),
        driver_license(),
        UsBankRecognizer(),
    ]


class OfflineEmail(EmailRecognizer):
    """Presidio's e-mail recognizer with the public-suffix snapshot instead of a download."""

    name: str  # set by Presidio's __init__s, which mypy cannot infer through
    patterns: list[Pattern]

    def __init__(self) -> None:
        super().__init__()
        self.tlds = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self.tlds(pattern_text).fqdn != ""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: int | None = None
    ) -> list[Any]:
        """Presidio's PatternRecognizer.analyze over the spans patterns.email_spans finds in linear
        time (its finditer was quadratic in a run of local-part characters before an "@"); each
        span scored, validated and explained as Presidio does."""
        flags: int = regex_flags or self.global_regex_flags or 0
        results = []
        for pattern in self.patterns:
            for start, end in email_spans(text, pattern.regex, flags):
                found = text[start:end]
                valid = self.validate_result(found)
                why = self.build_regex_explanation(self.name, pattern.name, pattern.regex, pattern.score, valid, flags)
                metadata = {
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                }
                score = pattern.score if valid is None else (self.MAX_SCORE if valid else self.MIN_SCORE)
                if self.invalidate_result(found):
                    score = self.MIN_SCORE
                why.score = score
                if score > self.MIN_SCORE:
                    results.append(RecognizerResult(self.supported_entities[0], start, end, score, why, metadata))
        return self.remove_duplicates(results)


class Card(PatternRecognizer):
    """Any 12-19 digit number, contiguous or in card-style groups, that passes Luhn: Presidio's
    regex knows only some issuer prefixes and misses Maestro, JCB, 19-digit Visa. A known
    prefix with 13+ digits is enough; anything else needs a card word nearby."""

    def __init__(self) -> None:
        groups = r"\b(?:\d{12,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})\b"
        super().__init__(
            "CREDIT_CARD", name="CardRecognizer", patterns=[Pattern("card", groups, 0.3)], context=CARD_CONTEXT
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if luhn(re.sub(r"\D", "", pattern_text)) else False

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: int | None = None
    ) -> list[Any]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            digits = re.sub(r"\D", "", text[r.start : r.end])
            if len(digits) >= 13 and CARD_IIN.match(digits):
                r.score = 0.8
        return results


class Phone(LocalRecognizer):
    """Digit groups with any separators, an optional +country code, (area) and extension:
    Presidio's phonenumbers matcher only finds numbers valid in eight regions, and synthetic
    or foreign numbers are often neither. A valid number or a strong format (+CC, (area),
    ddd-ddd-dddd, an extension) scores 0.5, as does a number in a national format of any region
    (phones.py; left out with national_phones=False); other digit groups need a phone word nearby."""

    name: str  # set by Presidio's EntityRecognizer.__init__, which mypy cannot infer through

    def __init__(self, national_phones: bool = True) -> None:
        super().__init__(supported_entities=["PHONE_NUMBER"], name="PhoneRecognizer", context=PHONE_CONTEXT)
        self.national = national_phones_checker() if national_phones else None

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        out = []
        for m in PHONE_RE.finditer(text):
            cand = m.group().rstrip(" .-")
            main = re.split(r"\s?(?:x|ext\.?)\s?\d+$", cand, flags=re.IGNORECASE)[0]
            digits = re.sub(r"\D", "", main)
            if not 7 <= len(digits) <= 15 or (not re.search(r"[ .()-]|^\+", main) and len(digits) < 10):
                continue
            strong = PHONE_STRONG.search(cand) or self._valid(main) or self._national(text, main, m.start())
            out.append(self._result(m.start(), m.start() + len(cand), 0.5 if strong else 0.3))
        return out

    def _result(self, start: int, end: int, score: float) -> Any:
        """A finding as Presidio's own recognizers report one (named, so its explanation says who)."""
        why = AnalysisExplanation(self.name, score, textual_explanation="digit groups")
        metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        return RecognizerResult("PHONE_NUMBER", start, end, score, why, recognition_metadata=metadata)

    def _national(self, text: str, number: str, start: int) -> bool:
        """A national number of some region (phones.py). Not after an identifier's name ("id",
        "order", "batch"...: "sample id 4711 0815"), nor one without a trunk prefix that a
        capitalised word follows ("370 3911 Fourth Avenue" is a house and a street number)."""
        if self.national is None or ID_BEFORE.search(text, max(0, start - 24), start):
            return False
        if not number.startswith("0") and CAPITAL_AFTER.match(text, start + len(number)):
            return False
        return bool(self.national.regions(number))

    @staticmethod
    def _valid(number: str) -> bool:
        # International numbers, or North American ones: a national number without a country
        # code is valid somewhere in most of the world (street numbers, postcodes too).
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(number, None if number[0] == "+" else "US"))
        except phonenumbers.NumberParseException:
            return False


class Iban(IbanRecognizer):
    """Presidio's IBAN regex and checksum take capitals only, so "gb42nawi..." was missed; a
    case-insensitive regex would swallow the next word ("... 1332 today"). So an all-lower-case
    candidate is checked again in capitals."""

    def validate_result(self, pattern_text: str) -> bool | None:
        valid: bool | None = super().validate_result(pattern_text.upper())  # Presidio's is unannotated
        return valid

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: int | None = None
    ) -> list[Any]:
        results = super().analyze(text, entities, nlp_artifacts)
        for m in LOWER_IBAN.finditer(text):
            for r in super().analyze(m.group().upper(), entities, nlp_artifacts):
                r.start, r.end = r.start + m.start(), r.end + m.start()
                results.append(r)
        return results


class Url(UrlRecognizer):
    """A bare domain whose suffix is also a file extension (setup.py, notes.md) is no URL. The
    patterns are Presidio's with a quick domain test (patterns.tld_guarded): same matches, a
    fifteenth of the time on dotted text."""

    def __init__(self) -> None:
        base = UrlRecognizer.BASE_URL_REGEX
        patterns = [Pattern(p.name, p.regex.replace(base, tld_guarded(base)), p.score) for p in self.PATTERNS]
        super().__init__(patterns=patterns)

    def invalidate_result(self, pattern_text: str) -> bool:
        text = pattern_text.strip("\"'").lower()
        if text.startswith(("http", "www.")) or "/" in text:
            return False
        return text.rsplit(".", 1)[-1] in FILE_TLDS


class Ip(IpRecognizer):
    """Presidio's IP patterns, checked by the standard library (no 999.1.1.1)."""

    def invalidate_result(self, pattern_text: str) -> bool:
        try:
            ipaddress.ip_address(pattern_text)
        except ValueError:
            return True
        return False


def date_time() -> PatternRecognizer:
    """Dates Presidio's DateRecognizer misses or cuts short: a date with its time, a month's name
    with a day or year, and a bare year after a word that introduces one."""
    return PatternRecognizer(
        "DATE_TIME",
        name="DateTimeRecognizer",
        context=["date", "born", "birthday", "dob"],
        patterns=[
            # Presidio's date patterns stop at the date; keep the time that follows it.
            Pattern(
                "date and time",
                r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b"
                r"|\b\d{1,2}/\d{1,2}/\d{2,4},? \d{1,2}:\d{2}(?::\d{2})?(?: ?[ap]m)?\b",
                0.85,
            ),
            Pattern(
                "month name date",
                rf"\b{MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b"
                rf"|\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{MONTH}\.?(?:,? \d{{4}})?\b|\b{MONTH} \d{{4}}\b",
                0.6,
            ),
            # A bare year is a date only after a word that introduces one ("in 1977", "a 2017 film"),
            # and never the start of a longer number ("1987 74 Diakou Street").
            Pattern(
                "year",
                r"(?<=\b(?:in|since|from|until|till|by|of|during|circa|year|a|an|early|late|mid|"
                r"before|after|around|born|founded)\s)(?:1[6-9]\d\d|20\d\d)\b(?![ -]?\d|,\d)",
                0.6,
            ),
        ],
    )


def driver_license() -> PatternRecognizer:
    """A US driver's licence number, only right after a phrase naming one: its formats alone
    (letters and digits) match too much else."""
    return PatternRecognizer(
        "US_DRIVER_LICENSE",
        name="DriverLicenseRecognizer",
        context=["license", "licence", "driver"],
        patterns=[
            Pattern(
                "after a licence phrase",
                r"(?<=\b(?:driver'?s?|driving)\s+licen[cs]e(?:\s+(?:number|no\.?|num|#))?"
                r"(?:\s+(?:is|was|:))?\s*:?\s*)[A-Z]{0,2}\d[\dA-Z-]{4,18}\b",
                0.6,
            )
        ],
    )
