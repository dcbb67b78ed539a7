"""PII detection: Presidio's pattern recognizers, tuned, run offline, plus a name tagger trained here.

Why this shape:
- Presidio's analyzer normally loads a spaCy NER model, which cannot be had here (no official
  English model on PyPI, no downloads at run time). It runs on `spacy.blank("en")` (a tokenizer
  only) once `SpacyRecognizer` is left out; names then come from `ner.NameTagger`.
- Its stock recognizers miss or mislabel much of real text (measured on the PII dev set:
  structured precision 0.6): e-mail domains are also reported as URLs, card numbers as phone
  numbers, phone numbers outside eight regions or without a valid area code are missed, a
  date-time loses its time, a year is no date. The recognizers below fix that, each for a reason
  given where it is defined, and `resolve` settles overlapping findings by a fixed priority.
- tldextract (used by the e-mail recognizer) fetches the public-suffix list over the network;
  here it uses the snapshot inside the package.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .orgs import with_organisations
from .phones import national_phones as national_phones_checker

#: Findings of pattern recognizers, in the order that wins an overlap (a checksum beats context).
PATTERN_PRIORITY: tuple[str, ...] = (
    "CREDIT_CARD",
    "IBAN_CODE",
    "EMAIL_ADDRESS",
    "IP_ADDRESS",
    "URL",
    "US_SSN",
    "DATE_TIME",
    "US_DRIVER_LICENSE",
    "PHONE_NUMBER",
    "US_BANK_NUMBER",
)
NAME_LABELS: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION", "STREET_ADDRESS")
#: The structured types whose precision/recall targets the bench checks.
STRUCTURED: tuple[str, ...] = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "DATE_TIME",
)
#: dev.jsonl labels -> the labels emitted here (Presidio's names). Labels absent from both sides
#: (AGE, TITLE, NRP, ZIP_CODE) are not detected: they identify no one on their own.
DATASET_LABELS: dict[str, str] = {"GPE": "LOCATION", "DOMAIN_NAME": "URL"}
#: A pattern finding at or above this score beats an overlapping name; below it, the name wins.
STRONG = 0.5


@dataclass(frozen=True)
class PiiSpan:
    """One finding: text[start:end] is `text`, labelled with a Presidio entity name."""

    start: int
    end: int
    label: str
    score: float
    text: str


def resolve(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    """Keep non-overlapping spans: strong patterns by priority (an e-mail over the URL of its domain,
    a card number over a bank or phone number inside it), then names, then weak patterns; within a
    rank, the higher score, then the longer span."""

    def key(s: PiiSpan) -> tuple[int, int, float, int]:
        if s.label in PATTERN_PRIORITY:
            tier, rank = (0 if s.score >= STRONG else 2), PATTERN_PRIORITY.index(s.label)
        else:
            tier, rank = 1, 0
        return tier, rank, -s.score, -(s.end - s.start)

    kept: list[PiiSpan] = []
    for s in sorted(spans, key=key):
        if all(s.end <= k.start or k.end <= s.start for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: (s.start, s.end))


# -- recognizers ---------------------------------------------------------------------------------
# Built inside a function: importing presidio and spaCy costs about a second, paid on first scan.

_PHONE_RE = re.compile(
    r"(?<![\w+./-])(?:\+\d{1,3}[ .-]?)?(?:\(\+?\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5})){0,6}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-]|[.,/]\d)",
    re.IGNORECASE,
)
_PHONE_STRONG = re.compile(
    r"^(?:\+\d|\(\d{2,4}\)|\d{3}-\d{3}-\d{4}\b|00[1-9]\d{0,2}[ .-])|\d\s?(?:x|ext\.?)\s?\d+$", re.IGNORECASE
)
_CAPITAL_AFTER = re.compile(r"[ \t]+[A-Z][a-z]")
_ID_BEFORE = re.compile(
    r"\b(?:ids?|no|nr|ref|reference|order|invoice|account|batch|lot|sample|case|ticket|isbn|issn|pmid|doi|"
    r"accession|patent|serial|code|zip|postcode|postal|grant|trial|registration|version)\b(?:\s+(?:is|was|number|no\.?|nr\.?|#))*\W{0,3}$",
    re.IGNORECASE,
)
PHONE_CONTEXT = [
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "desk",
    "call",
    "calling",
    "dial",
    "ring",
    "reach",
    "contact",
    "text",
    "sms",
    "whatsapp",
    "number",
    "answering",
    "message",
    "messages",
    "hotline",
    "landline",
    "voicemail",
]
CARD_CONTEXT = [
    "credit",
    "card",
    "visa",
    "mastercard",
    "cc",
    "amex",
    "discover",
    "jcb",
    "diners",
    "maestro",
    "debit",
    "payment",
]
_CARD_IIN = re.compile(r"^(?:4|5[0-8]|2[2-7]|3[04-9]|6|1800|2131)")
# Country codes that are also common file extensions (setup.py, notes.md, index.ts, Makefile.in).
_FILE_TLDS = frozenset(
    {"py", "sh", "md", "rs", "pl", "cc", "so", "ps", "ai", "ts", "mk", "in", "ml", "cs", "gz", "sv", "mm"}
)
_LOWER_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[a-z]{2}\d{2}(?:[ -]?[a-z0-9]{4}){2,7}(?:[ -]?[a-z0-9]{1,3})?"
    r"(?![A-Za-z0-9])"
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _build_recognizers(national_phones: bool = True) -> list[Any]:
    """The tuned recognizers; national_phones=False leaves out the national-format phone check
    (phones.py), as before it: the bench's comparison."""
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

    offline_tlds = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmail(EmailRecognizer):
        """Presidio's e-mail recognizer with the public-suffix snapshot instead of a download."""

        def validate_result(self, pattern_text: str) -> bool:
            return offline_tlds(pattern_text).fqdn != ""

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
            return None if _luhn(re.sub(r"\D", "", pattern_text)) else False

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: Any = None, regex_flags: int | None = None
        ) -> list[Any]:
            results = super().analyze(text, entities, nlp_artifacts, regex_flags)
            for r in results:
                digits = re.sub(r"\D", "", text[r.start : r.end])
                if len(digits) >= 13 and _CARD_IIN.match(digits):
                    r.score = 0.8
            return results

    class Phone(LocalRecognizer):
        """Digit groups with any separators, an optional +country code, (area) and extension:
        Presidio's phonenumbers matcher only finds numbers valid in eight regions, and synthetic
        or foreign numbers are often neither. A valid number or a strong format (+CC, (area),
        ddd-ddd-dddd, an extension) scores 0.5, as does a number in a national format of any region
        (phones.py); other digit groups need a phone word nearby."""

        name: str  # set by Presidio's EntityRecognizer.__init__, which mypy cannot infer through

        def __init__(self) -> None:
            super().__init__(supported_entities=["PHONE_NUMBER"], name="PhoneRecognizer", context=PHONE_CONTEXT)
            self.national = national_phones_checker() if national_phones else None

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            out = []
            for m in _PHONE_RE.finditer(text):
                cand = m.group().rstrip(" .-")
                main = re.split(r"\s?(?:x|ext\.?)\s?\d+$", cand, flags=re.IGNORECASE)[0]
                digits = re.sub(r"\D", "", main)
                if not 7 <= len(digits) <= 15 or (not re.search(r"[ .()-]|^\+", main) and len(digits) < 10):
                    continue
                strong = _PHONE_STRONG.search(cand) or self._valid(main) or self._national(text, main, m.start())
                score = 0.5 if strong else 0.3
                why = AnalysisExplanation(self.name, score, textual_explanation="digit groups")
                out.append(
                    RecognizerResult(
                        "PHONE_NUMBER",
                        m.start(),
                        m.start() + len(cand),
                        score,
                        why,
                        recognition_metadata={
                            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                        },
                    )
                )
            return out

        def _national(self, text: str, number: str, start: int) -> bool:
            """A national number of some region (phones.py). Not after an identifier's name ("id",
            "order", "batch"...: "sample id 4711 0815"), nor one without a trunk prefix that a
            capitalised word follows ("370 3911 Fourth Avenue" is a house and a street number)."""
            if self.national is None or _ID_BEFORE.search(text, max(0, start - 24), start):
                return False
            if not number.startswith("0") and _CAPITAL_AFTER.match(text, start + len(number)):
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
            for m in _LOWER_IBAN.finditer(text):
                for r in super().analyze(m.group().upper(), entities, nlp_artifacts):
                    r.start, r.end = r.start + m.start(), r.end + m.start()
                    results.append(r)
            return results

    class Url(UrlRecognizer):
        """A bare domain whose suffix is also a file extension (setup.py, notes.md) is no URL."""

        def invalidate_result(self, pattern_text: str) -> bool:
            text = pattern_text.strip("\"'").lower()
            if text.startswith(("http", "www.")) or "/" in text:
                return False
            return text.rsplit(".", 1)[-1] in _FILE_TLDS

    class Ip(IpRecognizer):
        """Presidio's IP patterns, checked by the standard library (no 999.1.1.1)."""

        def invalidate_result(self, pattern_text: str) -> bool:
            try:
                ipaddress.ip_address(pattern_text)
            except ValueError:
                return True
            return False

    date_extra = PatternRecognizer(
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
                rf"\b{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b"
                rf"|\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH}\.?(?:,? \d{{4}})?\b|\b{_MONTH} \d{{4}}\b",
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
    driver_license = PatternRecognizer(
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
    return [
        Card(),
        OfflineEmail(),
        Phone(),
        Iban(),
        UsSsnRecognizer(),
        Ip(),
        Url(),
        DateRecognizer(),
        date_extra,
        driver_license,
        UsBankRecognizer(),
    ]


def build_analyzer(recognizers: Sequence[Any] | None = None, tuned: bool = True) -> Any:
    """A Presidio AnalyzerEngine on spacy.blank("en"): nothing loads or downloads a model.

    `recognizers` defaults to the tuned set above. With `tuned`, lemmas (which Presidio compares
    context words with) are the lower-cased tokens, since a blank pipeline has no lemmatizer and
    would silently disable context; context words spaCy counts as stop words ("call", "number")
    are kept; context is whole words, six before and one after. tuned=False is stock Presidio
    (the bench's baseline).
    """
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    blank = spacy.blank("en")

    class BlankSpacyEngine(SpacyNlpEngine):
        def load(self) -> None:
            # Presidio's __init__ sets nlp = None (so mypy infers None); load() is where it fills it
            self.nlp = {"en": blank}  # type: ignore[assignment]

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            if tuned:
                for token in doc:
                    token.lemma_ = token.lower_
            return super()._doc_to_nlp_artifact(doc, language)

    engine = BlankSpacyEngine(
        models=[{"lang_code": "en", "model_name": "blank:en"}],
        ner_model_configuration=NerModelConfiguration(labels_to_ignore=[]),
    )
    engine.load()
    recognizers = list(recognizers if recognizers is not None else _build_recognizers())
    if tuned:
        vocab = blank.vocab
        for recognizer in recognizers:
            for word in recognizer.context or ():
                vocab[word].is_stop = False
    enhancer = (
        LemmaContextAwareEnhancer(context_prefix_count=6, context_suffix_count=1, context_matching_mode="whole_word")
        if tuned
        else None
    )
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return AnalyzerEngine(
        registry=registry, nlp_engine=engine, supported_languages=["en"], context_aware_enhancer=enhancer
    )


class PiiDetector:
    """Finds PII in text: `scan(text) -> list[PiiSpan]`, overlaps resolved, Presidio labels.

    Built lazily on first use and then reused (thread-safe): build one per process and share it.
    `entities` limits what is reported (default: everything it knows); `threshold` is the minimum
    score of a pattern finding; `names=False` skips the name tagger; `tagger` (also settable later)
    substitutes a NameTagger: the bench sets one trained on the other templates;
    `national_phones=False` drops the national-format phone check (phones.py), `organisations=False`
    the legal-form organisations (orgs.py): the benches' "before".
    """

    def __init__(
        self,
        entities: Iterable[str] | None = None,
        threshold: float = 0.4,
        names: bool = True,
        tagger: Any = None,
        weights_dir: Path | None = None,
        national_phones: bool = True,
        organisations: bool = True,
    ) -> None:
        self.entities = frozenset(entities) if entities is not None else None
        self.threshold = threshold
        self.names = names
        self.tagger = tagger
        self._weights_dir = weights_dir
        self.national_phones = national_phones
        self.organisations = organisations
        self._analyzer: Any = None
        self._lock = threading.Lock()

    @property
    def supported_entities(self) -> list[str]:
        """Every label scan() can return."""
        labels = [*PATTERN_PRIORITY, *(NAME_LABELS if self.names else ())]
        return [x for x in labels if self.entities is None or x in self.entities]

    def warm_up(self) -> None:
        """Build the analyzer and load the tagger now rather than on the first scan."""
        if self._analyzer is not None:
            return
        with self._lock:
            if self._analyzer is not None:
                return
            if self.names and self.tagger is None:
                from .ner import DATA_DIR, NameTagger

                self.tagger = NameTagger.load(self._weights_dir or DATA_DIR)
            self._analyzer = build_analyzer(_build_recognizers(self.national_phones))

    def scan(self, text: str) -> list[PiiSpan]:
        """All findings in text, sorted by position, none overlapping."""
        self.warm_up()
        names = self.tagger.tag(text) if self.names and self.tagger is not None and text.strip() else []
        return self._scan(text, names)

    def _scan(self, text: str, names: Sequence[tuple[int, int, str, float]]) -> list[PiiSpan]:
        if not text.strip():
            return []
        found = [
            PiiSpan(r.start, r.end, r.entity_type, round(float(r.score), 4), text[r.start : r.end])
            for r in self._analyzer.analyze(text=text, language="en", score_threshold=self.threshold)
        ]
        if self.organisations and self.names:
            names = with_organisations(text, names)
        found += [PiiSpan(a, b, label, score, text[a:b]) for a, b, label, score in names]
        if self.entities is not None:
            found = [s for s in found if s.label in self.entities]
        return resolve(found)

    def scan_many(self, texts: Iterable[str]) -> list[list[PiiSpan]]:
        """scan() for each text, with the name tagger's model run in batches (faster for many)."""
        texts = list(texts)
        self.warm_up()
        names = self.tagger.tag_many(texts) if self.names and self.tagger is not None else [[] for _ in texts]
        return [self._scan(t, n) for t, n in zip(texts, names, strict=True)]


_default: PiiDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> PiiDetector:
    """The process-wide detector with default settings (built on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PiiDetector()
        return _default
