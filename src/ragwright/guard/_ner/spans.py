"""From the tagger's BIO tags to the spans it reports, drawn as Presidio and the PII data set draw
them: runs of tags become spans, two names that touch become one, titles, articles and stray
punctuation are trimmed, a lone word naming a kind of data is dropped, and an address's town and
country lines are reported as places. Rules, not learnt: each fixes a boundary the perceptron
drew otherwise on the dev set, and says so where it is defined."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .features import Token

# (start, end, label, first token, last token + 1)
TagRun = tuple[int, int, str, int, int]
# (label, first token, last token + 1)
Part = tuple[str, int, int]

# Words that name a kind of personal data, not a person or a firm: "send the IBAN" (tagged PERSON
# 9 times in one held-out draw, since a capitalised short word after a verb looks like a name).
DATA_WORDS = frozenset(
    [
        "iban",
        "ssn",
        "cvv",
        "cvc",
        "pin",
        "swift",
        "bic",
        "url",
        "email",
        "e-mail",
        "id",
        "dob",
        "vat",
        "ein",
        "itin",
    ]
)
_HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "madam",
        "dame",
        "mme",
        "mlle",
        "herr",
        "frau",
    ]
)
_COMPASS = frozenset(["northern", "southern", "eastern", "western", "central", "north", "south", "east", "west"])
_ABBREVIATIONS = frozenset(["inc", "ltd", "co", "corp", "llc", "plc", "bros", "jr", "sr", "st"])
# Words of the street part of an address: a line holding one is not the town or country line.
_STREET_WORDS = frozenset(
    [
        "apt",
        "apartment",
        "suite",
        "ste",
        "unit",
        "floor",
        "fl",
        "flat",
        "room",
        "box",
        "po",
        "p.o",
        "street",
        "st",
        "road",
        "rd",
        "avenue",
        "ave",
        "lane",
        "ln",
        "drive",
        "dr",
        "way",
        "place",
        "pl",
        "court",
        "ct",
        "square",
        "sq",
        "boulevard",
        "blvd",
        "terrace",
        "parkway",
        "pkwy",
        "highway",
        "hwy",
    ]
)


def bio_tags(labels: Sequence[str]) -> list[str]:
    """The tag inventory: O plus B-/I- for each label."""
    return ["O"] + [f"{p}-{lab}" for lab in labels for p in ("B", "I")]


def bio_to_spans(tokens: Sequence[Token], tags: Sequence[str]) -> list[TagRun]:
    """(start, end, label, first token, last token + 1) for each run of B-X I-X..."""
    out: list[TagRun] = []
    i = 0
    while i < len(tags):
        if tags[i] == "O":
            i += 1
            continue
        label, j = tags[i][2:], i + 1
        while j < len(tags) and tags[j] == "I-" + label:
            j += 1
        out.append((tokens[i].start, tokens[j - 1].end, label, i, j))
        i = j
    return out


def trim(
    tokens: Sequence[Token], a: int, b: int, label: str, countries: frozenset[str] = frozenset()
) -> tuple[int, int]:
    """Span boundaries as Presidio and the data set draw them: a person's name without the title
    before it ("Mrs. Harris" -> "Harris"; TITLE is a label of its own), no full stop at the end unless
    it ends an abbreviation ("Pelhrimov." but "Conway Inc.", taken even when the tagger left it
    out), no leading article on an organisation or place ("The Garmin" -> "Garmin"), and a
    country without the compass word before it ("Southern Tunisia" -> "Tunisia", as OntoNotes
    marks "southern Tunisia"; "South Africa" is a country of its own and stays whole). A span is
    never trimmed to nothing."""
    a = _trim_start(tokens, a, b, label, countries)
    return a, _trim_end(tokens, a, b, label)


def _trim_start(tokens: Sequence[Token], a: int, b: int, label: str, countries: frozenset[str]) -> int:
    """The first token once titles, a leading article and a compass word before a country are left out."""
    if label == "PERSON":
        while b - a > 1 and tokens[a].text.lower() in _HONORIFICS:
            a += 2 if b - a > 2 and tokens[a + 1].text == "." else 1
    elif label in ("ORGANIZATION", "LOCATION") and b - a > 1 and tokens[a].text.lower() == "the":
        a += 1
    if label == "LOCATION" and b - a > 1 and tokens[a].text.lower() in _COMPASS:
        words = [t.text.lower() for t in tokens[a:b]]
        country = " ".join(words[1:]) in countries and " ".join(words) not in countries
        if country and words[:2] != ["northern", "ireland"]:
            a += 1
    return a


def _trim_end(tokens: Sequence[Token], a: int, b: int, label: str) -> int:
    """The end without trailing punctuation, unless a full stop ends an abbreviation, which an
    organisation takes even when the tagger left it out."""
    abbreviated = (
        b - a > 1
        and tokens[b - 1].text == "."
        and (tokens[b - 2].text.lower() in _ABBREVIATIONS or len(tokens[b - 2].text) == 1)
    )
    if label != "STREET_ADDRESS" and b - a > 1 and tokens[b - 1].text in ".,;:" and not abbreviated:
        b -= 1
    elif (
        label == "ORGANIZATION"
        and b < len(tokens)
        and tokens[b].text == "."
        and tokens[b].start == tokens[b - 1].end
        and tokens[b - 1].text.lower() in _ABBREVIATIONS
    ):
        b += 1  # "Conway Inc." keeps its full stop
    return b


def join_adjacent(tokens: Sequence[Token], spans: Sequence[TagRun], breaks: np.ndarray) -> list[Part]:
    """(label, first token, last token + 1) with two names that touch (only a space between them,
    same line) made one, of the last one's type: "Rapid" PERSON + "Cycle Solutions" ORGANIZATION
    is one organisation; a name is not two names of different kinds side by side."""
    out: list[Part] = []
    for _, _, label, a, b in spans:
        if (
            out
            and out[-1][2] == a
            and label != "STREET_ADDRESS"
            and out[-1][0] != "STREET_ADDRESS"
            and not breaks[a]
            and tokens[a - 1].text[-1:].isalnum()
        ):
            a = out.pop()[1]
        out.append((label, a, b))
    return out


def split_address(tokens: Sequence[Token], a: int, b: int, breaks: np.ndarray) -> list[Part]:
    """An address as its street part and its place lines: the town and country lines at its end
    ("...Suite 501\n Riisa\n Estonia 62488") are reported as LOCATION, a postcode after them
    stays STREET_ADDRESS. Towns are places wherever they are written, and four address templates
    of the PII set mark them so; in the others the whole address is one STREET_ADDRESS, which
    these parts still cover for redaction. Lines are split at line breaks and commas; a place
    line has no digit and no street word. The first line is never a place."""
    cuts = [a] + [i for i in range(a + 1, b) if breaks[i] or tokens[i].text == ","] + [b]
    parts: list[Part] = []
    for cut, y in reversed(list(itertools.pairwise(cuts[1:]))):
        x = cut + (tokens[cut].text == ",")
        end = y - 1 if y - x > 1 and tokens[y - 1].text.isdigit() else y  # a postcode after the place
        if not _is_place(tokens[x:end]):
            break
        parts = [("LOCATION", x, end), *([("STREET_ADDRESS", end, y)] if end < y else []), *parts]
        b = cut
    while b > a and tokens[b - 1].text == ",":
        b -= 1
    return [("STREET_ADDRESS", a, b), *parts] if b > a else parts


def _is_place(line: Sequence[Token]) -> bool:
    """An address line that names a town or country: words, no digit, no street word, a capital."""
    words = [t.text.lower().rstrip(".") for t in line]
    return (
        bool(words)
        and not any(ch.isdigit() for w in words for ch in w)
        and not _STREET_WORDS.intersection(words)
        and any(t.text[:1].isupper() for t in line)
    )


def shaped_spans(
    tokens: Sequence[Token], tags: Sequence[str], breaks: np.ndarray, countries: frozenset[str]
) -> list[Part]:
    """Every rule above, in order, over one text's decoded tags: the (label, first, last + 1) parts
    the tagger reports."""
    out: list[Part] = []
    for label, a, b in join_adjacent(tokens, bio_to_spans(tokens, tags), breaks):
        a, b = trim(tokens, a, b, label, countries)
        if b - a == 1 and tokens[a].text.lower() in DATA_WORDS:
            continue
        out += split_address(tokens, a, b, breaks) if label == "STREET_ADDRESS" else [(label, a, b)]
    return out
