"""What a text says once its Unicode disguise is taken off, for the injection guard to score too.

A model reads "Ign\u043ere \u0430ll" (Cyrillic o and a), "I\u2062g\u2062n\u2062o\u2062r\u2062e" (invisible
times between letters), "Ígńóŕé" (an acute on every letter) or words spaced with U+3164 HANGUL
FILLER as the plain instruction; the detector, which sees NFKC text, did not (review 12,
c_guard_unicode.py). fold() undoes those tricks and nothing else:

- invisible code points (Default_Ignorable: format characters, variation selectors, tags, the
  Hangul fillers, the Mongolian vowel separator...) are removed; a blank-looking filler between
  two non-Hangul characters becomes the space it stands for; tag characters that spell ASCII
  ("ASCII smuggling", which models decode) become that ASCII. An emoji's own joiners, variation
  selectors and flag tags are kept, and so are the six the detector removes itself (U+200B...).
- look-alike letters (a TR39-style skeleton of the Cyrillic and Greek letters that pass for Latin
  ones) become Latin inside a word that mixes scripts, and in a word made only of look-alikes
  when the text's words are mostly Latin. Russian and Greek text is left alone: its words carry
  letters no Latin one resembles. Science's TNF-alpha, G-alpha-s or NF-kappa-B written with Greek
  letters are notation, not disguise, and are kept (see _notation).
- fullwidth, mathematical and enclosed Latin letters and digits become plain ones (NFKC), but
  beside CJK text, which writes fullwidth Latin as a matter of course.
- combining marks are dropped from a "decorated" Latin word: one whose every letter carries a
  mark, or that has a letter+mark no European or Vietnamese orthography writes (ǵ, ṕ, t́, v́);
  across the whole text when at least half of its Latin words are decorated. Accented words of
  ordinary German, French, Czech or Vietnamese are kept as written: the detector was trained on
  NFKC text with its umlauts and accents, and would see them as such.

Ordinary text comes back unchanged (the same string): the caller scores the folded text only when
it differs. obfuscation() says how much disguise a text wore, a signal in itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import regex  # type: ignore[import-untyped]  # no py.typed, types-regex is not installed

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt; tests check it against the regex module's
# \p{DI}) for the standard library's re, whose match callbacks cost a third of the regex module's.
_DI = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
_IGNORABLE = re.compile(f"[{_DI}]+")
_IGNORABLE_AT = re.compile(f"(?<=(.))?([{_DI}]+)(.?)", re.S)
_WORD = regex.compile(r"[\p{L}\p{M}]+(?:['\u2019][\p{L}\p{M}]+)*")
_LATIN = regex.compile(r"\p{Script=Latin}")
_MARK = regex.compile(r"\p{M}")
_LATIN_WORD = regex.compile(r"(?:\p{Script=Latin}|\p{M}|['\u2019])+")  # Japanese "de" is "te" + a mark
_FOREIGN = regex.compile(r"[\p{Script=Cyrillic}\p{Script=Greek}]")
_HANGUL = regex.compile(r"\p{Script=Hangul}")
_DETECTOR_DROPS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")  # injection_features.normalize removes them
_ALPHABET = regex.compile(r"[\p{Script=Latin}\p{Script=Cyrillic}\p{Script=Greek}]")
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]")
_FORMS = regex.compile(
    r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u2460-\u24ff\U0001d400-\U0001d7ff\U0001f130-\U0001f189]+"
)
_FORMS_AT = regex.compile(r"(?<=(.?))(" + _FORMS.pattern + r")(?=(.?))", regex.S)
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u180e")  # render as blank space: stand-ins for a space
_EMOJI_KEEP = frozenset("\u200d") | frozenset(map(chr, range(0xFE00, 0xFE10)))
_TAGS = range(0xE0000, 0xE0080)
_FLAG = "\U0001f3f4"  # a subdivision flag is U+1F3F4, tag letters, U+E007F

# Letters that pass for Latin ones (after Unicode TR39 confusables.txt, the prototypes that are
# plain ASCII letters): Cyrillic, then Greek.
_CONFUSABLE = {
    **dict(zip("аеіјорсухѕһԁԛԝӏүёї", "aeijopcyxshdqwlyëï", strict=True)),
    **dict(zip("АВЕІЈКМНОРСТХУЅҺԚԜӀҮЁЇ", "ABEIJKMHOPCTXYSHQWIYËÏ", strict=True)),
    **dict(zip("αγικνορυχϲϳ", "ayikvopuxcj", strict=True)),
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧϹ", "ABEZHIKMNOPTYXC", strict=True)),  # noqa: RUF001
}
_FOLD_TABLE = str.maketrans(_CONFUSABLE)
# Latin letter+mark as orthographies write it: Latin-1, Extended-A, Romanian ș ț, Pinyin ǎ-ǜ,
# Vietnamese ơ ư and the Extended Additional block's Vietnamese letters.
_ORTHOGRAPHIC = (
    set(map(chr, range(0xC0, 0x180)))
    | set(map(chr, range(0x218, 0x21C)))
    | set(map(chr, range(0x1CD, 0x1DD)))
    | set("ƠơƯư")
    | set(map(chr, range(0x1EA0, 0x1EFA)))
)


@dataclass(frozen=True, slots=True)
class Obfuscation:
    """How much disguise a text wore: `invisible` code points between two letters (a soft hyphen
    not counted: web text has them), `smuggled` ASCII characters spelled in tag characters,
    `mixed` words that mix Latin with look-alike scripts, `decorated` words stripped of marks."""

    invisible: int = 0
    smuggled: int = 0
    mixed: int = 0
    decorated: int = 0

    @property
    def heavy(self) -> bool:
        """Disguise no ordinary text wears: tags spelling text, 3+ invisibles inside words, 2+ mixed
        words, 3+ decorated words."""
        return self.smuggled > 0 or self.invisible >= 3 or self.mixed >= 2 or self.decorated >= 3

    @property
    def reasons(self) -> tuple[str, ...]:
        """What a verdict could name: "unicode_obfuscation" and its kinds, or nothing."""
        if not self.heavy:
            return ()
        kinds = [("invisible", self.invisible), ("tags", self.smuggled), ("mixed_script", self.mixed)]
        kinds.append(("decorated", self.decorated))
        return ("unicode_obfuscation", *(f"unicode_{name}:{n}" for name, n in kinds if n))


def fold(text: str) -> str:
    """`text` without its disguise (see the module's docstring); `text` itself when it wore none."""
    return folded(text)[0]


def obfuscation(text: str) -> Obfuscation:
    """How much disguise `text` wore (Obfuscation.heavy: a signal in itself)."""
    return folded(text)[1]


def folded(text: str) -> tuple[str, Obfuscation]:
    """fold() and obfuscation() in one pass: what a detector calls, once per text."""
    if text.isascii():
        return text, Obfuscation()
    out, invisible, smuggled = _visible(text)
    out = _plain_forms(out)
    out, mixed = _skeleton(out)
    out, decorated = _undecorated(out)
    return (text if out == text else out), Obfuscation(invisible, smuggled, mixed, decorated)


def _plain_forms(text: str) -> str:
    """Fullwidth, mathematical and enclosed letters and digits as plain ones (NFKC), except a run
    beside CJK text, where fullwidth Latin is ordinary ("丸の内ＪＰタワー")."""
    if not _FORMS.search(text):
        return text

    def plain(m: Any) -> str:
        before, run, after = m.group(1, 2, 3)
        return str(run) if _CJK.search(before + after) else unicodedata.normalize("NFKC", run)

    out: str = _FORMS_AT.sub(plain, text)
    return out


# -- invisible code points -------------------------------------------------------------------------


def _visible(text: str) -> tuple[str, int, int]:
    """Invisible runs removed (but for what the detector removes itself), blank fillers made
    spaces, tag ASCII decoded; with how many invisibles stood between two letters of an alphabet
    (Khmer and Thai write U+200B between words) and how many characters tags spelled. One regex
    pass that captures each run's neighbours (a Match's offsets cost ~10 us each on long text)."""
    if not _IGNORABLE.search(text):
        return text, 0, 0
    counts = [0, 0]

    def visible(m: re.Match[str]) -> str:
        before, run, after = m.group(1, 2, 3)
        before = before or ""
        if _alphabet(before) and _alphabet(after) and run != "\u00ad":
            counts[0] += len(run)
        if before and not before.isalpha() and _emoji_own(run, before):
            return run + after
        if run[-1] >= "\U000e0000":
            spelled = "".join(_tag_text(c) for c in run).strip()
            if spelled:
                counts[1] += len(spelled.replace(" ", ""))
                return f" {spelled} " + after
        if not _BLANKS.isdisjoint(run) and not _hangul(before) and not _hangul(after):
            return " " + after
        return "".join(filter(_DETECTOR_DROPS.__contains__, run)) + after

    out: str = _IGNORABLE_AT.sub(visible, text)
    return out, counts[0], counts[1]


@lru_cache(maxsize=4096)
def _alphabet(ch: str) -> bool:
    return bool(ch) and bool(_ALPHABET.match(ch))


@lru_cache(maxsize=4096)
def _hangul(ch: str) -> bool:
    return bool(ch) and bool(_HANGUL.match(ch))


def _tag_text(ch: str) -> str:
    cp = ord(ch)
    return chr(cp - 0xE0000) if 0xE0020 <= cp <= 0xE007E else ""


def _emoji_own(run: str, before: str) -> bool:
    """A joiner or variation selector after an emoji, or a flag's tag sequence: part of the emoji."""
    if before == _FLAG and all(ord(c) in _TAGS for c in run) and run.endswith("\U000e007f"):
        return True
    return bool(before) and unicodedata.category(before) in ("So", "Sk") and all(c in _EMOJI_KEEP for c in run)


# -- look-alike letters ----------------------------------------------------------------------------


def _skeleton(text: str) -> tuple[str, int]:
    """Look-alikes made Latin in mixed words (notation too once one mixed word is not notation),
    and in look-alike-only words of a mostly Latin text whose neighbours are not foreign words."""
    if not _FOREIGN.search(text):
        return text, 0
    kinds = [_kind(word) for word in _WORD.findall(text)]
    mixed = kinds.count("mixed")
    if mixed == 0 and "lookalike" not in kinds:
        return text, 0
    latin_text = kinds.count("latin") > kinds.count("foreign")
    at = iter(range(len(kinds)))

    def skeleton(m: Any) -> str:
        i = next(at)
        kind, word = kinds[i], m.group()
        alone = (i == 0 or kinds[i - 1] != "foreign") and (i + 1 == len(kinds) or kinds[i + 1] != "foreign")
        if kind == "mixed" or (kind == "notation" and mixed) or (kind == "lookalike" and latin_text and alone):
            return str(word.translate(_FOLD_TABLE))
        return str(word)

    out: str = _WORD.sub(skeleton, text)
    return out, mixed


@lru_cache(maxsize=8192)
def _kind(word: str) -> str:
    """ "latin", "foreign" (Cyrillic or Greek, with a letter no Latin one resembles), "lookalike"
    (2+ letters, each passing for Latin), "mixed", "notation" (a mixed word science writes), "other"."""
    if word.isascii():
        return "latin"
    has_latin, has_foreign = bool(_LATIN.search(word)), bool(_FOREIGN.search(word))
    if has_latin and has_foreign:
        if not any(c in _CONFUSABLE for c in word):
            return "other"  # Greek no Latin letter resembles (delta, phi, lambda) disguises nothing
        return "notation" if _notation(word) else "mixed"
    if has_foreign:
        return "lookalike" if len(word) > 1 and _lookalike_only(word) else "foreign"
    return "latin" if has_latin else "other"


def _lookalike_only(word: str) -> bool:
    return all(ch in _CONFUSABLE or not _FOREIGN.match(ch) for ch in word if not unicodedata.combining(ch))


def _notation(word: str) -> bool:
    """Lower-case Greek at a word's edges (TNF-alpha, alpha-v-beta, kappa-B written as one word),
    or beside an upper-case Latin letter (G-alpha-s, Fc-gamma-R): how science writes, not a
    disguise (the letters a disguise hides sit inside lower-case words)."""
    if not all(unicodedata.name(c, "").startswith("GREEK SMALL") for c in word if _FOREIGN.match(c)):
        return False
    latin = [i for i, c in enumerate(word) if _LATIN.match(c)]
    for run in regex.finditer(r"[\p{Script=Greek}\p{M}]+", word):
        start, end = run.span()
        inside = latin[0] < start and end <= latin[-1]
        if inside and not (word[start - 1].isupper() or word[end].isupper()):
            return False
    return True


# -- decorated letters ------------------------------------------------------------------------------


def _undecorated(text: str) -> tuple[str, int]:
    """Marks dropped from decorated Latin words (from every Latin word when half are decorated)."""
    if not _MARK.search(unicodedata.normalize("NFD", text)):
        return text, 0
    latin = [(word, _decorated(word)) for word in _WORD.findall(text) if _LATIN_WORD.fullmatch(word)]
    decorated = sum(flag for _, flag in latin)
    if not decorated:
        return text, 0
    everywhere = decorated * 2 >= sum(1 for word, _ in latin if len(word) > 1)

    def bare(m: Any) -> str:
        word: str = m.group()
        if not _LATIN_WORD.fullmatch(word) or not (everywhere or _decorated(word)):
            return word
        return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))

    out: str = _WORD.sub(bare, text)
    return out, decorated


@lru_cache(maxsize=8192)
def _decorated(word: str) -> bool:
    """Every letter marked (2+ letters), or a letter+mark that no orthography writes."""
    clusters = regex.findall(r"\P{M}\p{M}*", unicodedata.normalize("NFD", word))
    letters = [c for c in clusters if c[0].isalpha()]
    marked = [c for c in letters if len(c) > 1]
    if not marked:
        return False
    if len(letters) > 1 and len(marked) == len(letters):
        return True
    return any(unicodedata.normalize("NFC", c) not in _ORTHOGRAPHIC for c in marked)
