"""Extra training sentences for the name tagger: hand-written sentence patterns filled by Faker.

Why: the PII dev set has about 100 templates, and a tagger trained on it learns their contexts. On
templates it has not seen it confuses the type of made-up names (is "Lendava" a company or a town?),
which only more varied contexts teach. tools/guard/data/ner_templates.txt holds such contexts (e-mail, news, HR,
travel, records), written for ragwright and not taken from the dev set; Faker fills them with names,
companies, towns, countries and street addresses of many locales, so the values are as made up as
the dev set's. The filled sentences are written once to data/ner_synthetic.jsonl, which training
reads: Faker's output depends on the interpreter's hash seed, and a file makes every retraining and
every cross-validation fold see the same sentences, and keeps Faker out of training itself.

    python -m tools.guard.ner_synth   # rewrite tools/guard/data/ner_synthetic.jsonl (Faker, in requirements/dev.txt)

Measured by template-grouped 5-fold CV on the dev set (bench/guard.py): name recall, exact span
and type, 0.749 without these sentences, 0.82 with 199 patterns filled 5 times.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import TRAINING_DATA

TEMPLATES = TRAINING_DATA / "ner_templates.txt"
SYNTHETIC = TRAINING_DATA / "ner_synthetic.jsonl"
PER_TEMPLATE = 5
LOCALES = (
    "en_US",
    "en_GB",
    "en_AU",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "nl_NL",
    "sv_SE",
    "pl_PL",
    "hu_HU",
    "cs_CZ",
    "fi_FI",
    "no_NO",
    "da_DK",
    "pt_PT",
    "tr_TR",
    "el_GR",
    "is_IS",
    "et_EE",
)
_SUFFIXES = ("ly", "io", "ify", "era", "ex", "ia", "hub", "base", "works", "labs", "", "")
_KINDS = ("Inc", "Ltd", "Group", "Labs", "Systems", "Solutions", "Global", "Technologies")
_SLOT = re.compile(r"\{(\w+)\}")
Span = tuple[int, int, str]


def _fillers(fake: Any, rng: random.Random) -> dict[str, tuple[Callable[[], str], str | None]]:
    """Slot name -> (value maker, label); a town is now and then written in capitals, as in forms."""

    def city() -> str:
        name: str = fake.city()
        return name.upper() if rng.random() < 0.15 else name

    def brand() -> str:  # a made-up product or start-up name: "Datafield", "Brightly", "Quotemint"
        words = [w for w in (fake.word().capitalize(), fake.word()) if w.isalpha()] or ["Acme"]
        name = words[0] + (words[1] if len(words) > 1 and rng.random() < 0.6 else rng.choice(_SUFFIXES))
        return name if rng.random() < 0.8 else f"{name} {rng.choice(_KINDS)}"

    return {
        "PERSON": (lambda: f"{fake.first_name()} {fake.last_name()}", "PERSON"),
        "FIRST": (fake.first_name, "PERSON"),
        "LAST": (fake.last_name, "PERSON"),
        "first": (lambda: fake.first_name().lower(), "PERSON"),
        "last": (lambda: fake.last_name().lower(), "PERSON"),
        "ORG": (fake.company, "ORGANIZATION"),
        "lower_org": (lambda: fake.company().lower(), "ORGANIZATION"),
        "CITY": (city, "LOCATION"),
        "lower_city": (lambda: fake.city().lower(), "LOCATION"),
        "COUNTRY": (fake.country, "LOCATION"),
        "ADDRESS": (fake.street_address, "STREET_ADDRESS"),
        "BRAND": (brand, "ORGANIZATION"),
        "brand": (lambda: brand().lower(), "ORGANIZATION"),
        "TITLE": (fake.job, None),
    }


def read_patterns(path: Path = TEMPLATES) -> list[str]:
    """The sentence patterns of a templates file: one a line, "#" lines skipped, "\\n" a line break."""
    return [
        line.strip().replace("\\n", "\n")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def synthetic_examples(
    per_template: int = PER_TEMPLATE, seed: int = 0, path: Path = TEMPLATES
) -> list[tuple[str, list[Span]]]:
    """(text, [(start, end, label)]) pairs: each pattern filled `per_template` times, each time
    from a locale drawn at random (English ones twice as likely)."""
    from faker import Faker  # a training-only dependency

    rng = random.Random(seed)
    fakers = {}
    out = []
    for pattern in read_patterns(path):
        for _ in range(per_template):
            locale = rng.choice(LOCALES[:3] * 2 + LOCALES)
            if locale not in fakers:
                fakers[locale] = Faker(locale)
                fakers[locale].seed_instance(seed)
            fill = _fillers(fakers[locale], rng)
            text, spans, pos = "", [], 0
            for m in _SLOT.finditer(pattern):
                make, label = fill[m.group(1)]
                value = " ".join(make().split())
                text += pattern[pos : m.start()]
                if label:
                    spans.append((len(text), len(text) + len(value), label))
                text += value
                pos = m.end()
            out.append((text + pattern[pos:], spans))
    return out


def load_synthetic(path: Path = SYNTHETIC) -> list[tuple[str, list[Span]]]:
    """The shipped filled sentences, as (text, [(start, end, label)])."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [(r["text"], [(s["start"], s["end"], s["label"]) for s in r["spans"]]) for r in rows]


def main() -> int:
    rows = synthetic_examples()
    with SYNTHETIC.open("w", encoding="utf-8") as fh:
        for text, spans in rows:
            fh.write(
                json.dumps(
                    {"text": text, "spans": [{"start": a, "end": b, "label": lab} for a, b, lab in spans]},
                    ensure_ascii=False,
                )
                + "\n"
            )
    print(f"{len(rows)} sentences -> {SYNTHETIC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
