"""PII detection: Presidio's pattern recognizers, tuned, run offline, plus a name tagger trained here.

Why this shape:
- Presidio's analyzer normally loads a spaCy NER model, which cannot be had here (no official
  English model on PyPI, no downloads at run time). It runs on `spacy.blank("en")` (a tokenizer
  only) once `SpacyRecognizer` is left out; names then come from `ner.NameTagger`.
- Its stock recognizers miss or mislabel much of real text (measured on the PII dev set:
  structured precision 0.6): e-mail domains are also reported as URLs, card numbers as phone
  numbers, phone numbers outside eight regions or without a valid area code are missed, a
  date-time loses its time, a year is no date. The recognizers below fix that, each for a reason
  given where it is defined (_pii/recognizers.py), and `resolve` settles overlapping findings by a
  fixed priority.
- tldextract (used by the e-mail recognizer) fetches the public-suffix list over the network;
  here it uses the snapshot inside the package.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._pii.patterns import CARD_CONTEXT, PHONE_CONTEXT
from .orgs import with_organisations

__all__ = [
    "CARD_CONTEXT",
    "DATASET_LABELS",
    "NAME_LABELS",
    "PATTERN_PRIORITY",
    "PHONE_CONTEXT",
    "STRONG",
    "STRUCTURED",
    "PiiDetector",
    "PiiSpan",
    "build_analyzer",
    "default_detector",
    "resolve",
]

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


# -- the analyzer ----------------------------------------------------------------------------------
# Built inside functions: importing presidio and spaCy costs about a second, paid on first scan.


def _build_recognizers(national_phones: bool = True) -> list[Any]:
    """The tuned recognizers (_pii/recognizers.py, imported now rather than with this module);
    national_phones=False leaves out the national-format phone check (phones.py), as before it:
    the bench's comparison."""
    from ._pii.recognizers import build_recognizers

    return build_recognizers(national_phones)


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

    blank = spacy.blank("en")
    engine = _blank_engine(blank, tuned)
    recognizers = list(recognizers if recognizers is not None else _build_recognizers())
    enhancer = None
    if tuned:
        vocab = blank.vocab
        for recognizer in recognizers:
            for word in recognizer.context or ():
                vocab[word].is_stop = False
        enhancer = LemmaContextAwareEnhancer(
            context_prefix_count=6, context_suffix_count=1, context_matching_mode="whole_word"
        )
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return AnalyzerEngine(
        registry=registry, nlp_engine=engine, supported_languages=["en"], context_aware_enhancer=enhancer
    )


def _blank_engine(blank: Any, tuned: bool) -> Any:
    """Presidio's spaCy engine, loaded, on a tokenizer-only pipeline; `tuned` sets each token's
    lemma to its lower-cased text, so that context words still match without a lemmatizer."""
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

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
    return engine


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
