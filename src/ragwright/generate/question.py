"""What a question asks for, read without a model: its content terms, the kind of answer it
expects, and the specific names it mentions.

- Kind: "quantity" (how many / how long / the default, the limit...), "reason" (why),
  "criterion" (how does X decide / determine ...: a condition crossing a bound, or a formula),
  "name" (which / what X), "procedure" (how do I...), or "other". An answer of the expected kind
  carries something the question does not: a number, a causal clause, an identifier or code.
  Measured on pgdocs-qa (bench/answers_realdocs.py): rewarding a passage of the expected kind
  raised correct extractive answers on quantity questions from 2 to 6 of 9.
- Shape: what "which operator / function / setting / option / file / code" or "is there a role"
  asks for, and how such a thing is written (symbols, a parenthesis, underscores, dashes, an
  extension, digits): a sentence that writes one carries the answer (_SHAPES).
- Names: words written as names rather than as English (MyISAM, RMAN, innodb_buffer_pool_size,
  PgBouncer, a capitalised word inside the sentence) and version references (MySQL 8.0). A
  question about a name no passage mentions is about something these documents do not cover:
  that is what refuses "How do I convert a MyISAM table?" over a PostgreSQL manual, where the
  passages' similarity alone (0.40) is as high as for questions the manual does answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..analysis import Analyzer

# Words that say how a question is asked, not what it is about (stemmed like index terms).
_ASKING = (
    "how what which who whom whose why when where do does did i my me we our you your can could should "
    "would want need get make way there is it its also just simply"
)
_TOKEN = re.compile(r"[A-Za-z0-9][\w.+#-]*[\w+#]|[A-Za-z0-9]")
_VERSION = re.compile(r"\b([A-Z][\w+#-]*)\s+v?(\d+(?:\.\d+)*)\b")
_NUMBER_WORDS = r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|hundred|thousand|million|billion)\b"
_NUMBER = re.compile(r"\d[\d,.]*|" + _NUMBER_WORDS, re.IGNORECASE)
_REASON = re.compile(
    r"\b(?:because|since|so that|therefore|thus|hence|this means|which means|in order to|to avoid|"
    r"otherwise|cannot|can't|must|ensures?|prevents?|guarantees?|requires?|avoids?|"
    r"\w+er than|(?:more|less) \w+ than|causes?|caused by|due to|"
    r"if you (?:want|wish|need) to|without (?:letting|affecting|having|causing))\b",
    re.IGNORECASE,
)
# A question about what happens when nothing is set: answered by a sentence that states a default.
_ASKS_DEFAULT = re.compile(
    r"\bdefaults?\b|\bout of the box\b|\bleave (?:it|them|\w+ \w+) alone\b|\b(?:never|don't|do not|haven't|have not|"
    r"didn't|did not|doesn't|does not)\s+(?:\w+\s+)?(?:set|sets|specify|specifies|change|changes|configure|choose)\b",
    re.IGNORECASE,
)
# A cross-reference's number ("see Section 20.4.4", "Table 8.4 shows") is no quantity.
_REFERENCE = re.compile(
    r"\b(?:sections?|tables?|chapters?|figures?|examples?|appendix|appendices|rfc|pep)\s+"
    r"[A-Z]?\d+(?:\.\d+)*",
    re.IGNORECASE,
)
SHAPE_MISS = 0.5  # of Question.expects for a sentence that does not write the thing asked for as such things are
# What a "which X" / "what X" / "is there a X" question asks for, and how technical documentation
# writes such a thing: an operator in symbols, a function or method with its parenthesis, an
# environment variable in capitals, a setting with underscores, an option with dashes, a file
# with its extension or path, a port or code in digits. First match wins.
_ASKED_THING = r"\b(?:which|what|is there an?|are there(?: any)?)\s+(?:[\w-]+\s+){0,2}?(?:NOUN)\b"
_SHAPES = tuple(
    (
        re.compile(_ASKED_THING.replace("NOUN", noun), re.IGNORECASE),
        re.compile(shape),
    )
    for noun, shape in (
        ("operators?", r"(?:(?<=\s)|^)[-<>=@#!~|&*/+%^?]{2,4}(?=\s|$)"),
        ("functions?|methods?", r"\b[A-Za-z_][\w.]*\(|\b[a-z]\w*[_.]\w+\s\("),  # "split_part (" as tables write it
        ("environment variables?", r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"),
        ("settings?|parameters?|variables?|roles?", r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b"),
        ("options?|flags?|switch(?:es)?", r"(?<![\w-])--?[a-zA-Z][\w-]*"),
        ("files?", r"[\w.-]*/[\w./-]+|\b[\w-]+\.(?:conf|cfg|ini|toml|ya?ml|json|xml|txt|log|env)\b"),
        ("ports?", r"\b\d{2,5}\b"),
        ("(?:error |status |exit |return )?codes?", r"\b(?=[0-9A-Z]*\d)[0-9A-Z]{3,6}\b"),
    )
)


def _shape_asked(question: str) -> re.Pattern[str] | None:
    """How the thing the question asks for is written (see _SHAPES), or None."""
    return next((shape for asked, shape in _SHAPES if asked.search(question)), None)


# A question about a bound, and the ways a sentence states one (a range states two).
_ASKS_LIMIT = re.compile(
    r"\b(?:largest|smallest|longest|shortest|biggest|highest|lowest|maximum|minimum|at most|at least|limits?)\b",
    re.IGNORECASE,
)
_STATES_LIMIT = re.compile(
    r"\b(?:largest|smallest|longest|shortest|biggest|highest|lowest|maximum|minimum|max|min|at most|at least|"
    r"limits?|limited|up to|no more than|no less than|as (?:large|long|many|much) as|exceeds?|between)\b|"
    r"\d\s*(?:to|-|\u2013)\s*[+-]?\d",
    re.IGNORECASE,
)
LIMIT_MISS = 0.5  # of Question.expects for a number that states no bound, when a bound is asked for
# "How does the scheduler decide ...?" asks for the rule it applies: a condition crossing a bound
# ("if the number of dead rows exceeds the threshold") or a formula ("is defined as:").
_ASKS_CRITERION = re.compile(
    r"\bhow (?:does|do|is|are) (?!I\b|you\b|we\b)(?:[\w-]+\s+){1,4}?"
    r"(?:decide|determine|know|judge|choose|tell|detect)s?\b",
    re.IGNORECASE,
)
_STATES_CRITERION = re.compile(
    r"\b(?:if|when|whenever|once|as soon as)\b[^.;]*?\b(?:exceeds?|exceeded|reach(?:es|ed)?|surpass(?:es)?|above|"
    r"below|(?:more|less|greater|fewer|higher|lower) than|at least|at most)\b"
    r"|\b(?:is|are) (?:defined|computed|calculated) as\b",
    re.IGNORECASE,
)
_STATES_DEFAULT = re.compile(r"\bdefaults?\b", re.IGNORECASE)
_CODE = re.compile(r"```|\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b|\b[A-Za-z_][\w.]*\(|\b[A-Z][A-Z]+\b|->|=|--?[a-z]")

# "What is the difference between X and Y?" / "How does X differ from Y?": answered by a sentence
# that names both and sets them apart ("X is equivalent to Y except that ..."); "difference" and
# "between" say how the question is asked ("different privileges" is no answer).
_ASKS_DIFFERENCE = re.compile(
    r"\bdifferen(?:ce|t)s?\b[^?]*?\bbetween\s+(.+?)\s+and\s+(.+?)\s*(?:[?.,;]|$)"
    r"|\bhow\s+(?:does|do|is|are)\s+(.+?)\s+differ(?:ent)?\s+from\s+(.+?)\s*(?:[?.,;]|$)",
    re.IGNORECASE,
)
_CONTRAST = re.compile(r"\b(?:except|while|whereas|unlike|but|instead|rather than|differs?|only|not)\b", re.IGNORECASE)
_DIFFERENCE_ASKING = "difference differences different differ differs between"
_KINDS = (
    ("reason", re.compile(r"\bwhy\b", re.IGNORECASE)),
    ("difference", _ASKS_DIFFERENCE),
    ("criterion", _ASKS_CRITERION),
    (
        "quantity",
        re.compile(
            r"\bhow (?:many|much|long|big|large|often|old|fast|far)\b|\b(?:largest|smallest|maximum|"
            r"minimum|limit|default|at most|at least|size of)\b",
            re.IGNORECASE,
        ),
    ),
    ("name", re.compile(r"\b(?:which|what)\b", re.IGNORECASE)),
    ("procedure", re.compile(r"\bhow (?:do|can|should|would|could|to)\b", re.IGNORECASE)),
)


@lru_cache(maxsize=1)
def analyzer() -> Analyzer:
    return Analyzer()


@lru_cache(maxsize=1)
def _asking_terms() -> frozenset[str]:
    return frozenset(analyzer().terms(_ASKING))


@dataclass(slots=True)
class Question:
    text: str
    terms: list[str]  # stemmed content terms, in order, each once
    kind: str
    names: list[str] = field(default_factory=list)  # written as names: MyISAM, work_mem, Oracle
    versions: list[tuple[str, str]] = field(default_factory=list)  # (name, number): ("MySQL", "8.0")
    focus: list[str] = field(default_factory=list)  # what "which"/"what" asks for: "output format"
    setting: list[str] = field(default_factory=list)  # terms only of the sentences before the asking one
    shape: re.Pattern[str] | None = None  # how what a "which X" question asks for is written (_SHAPES)

    @property
    def role(self) -> str | None:
        """The role of the only sentence that answers it, if one: "shape" (it writes the thing
        "which setting/operator ..." asks for), "default" (it states a default), "criterion"
        (the rule "how does X decide" applies), "difference" (it sets two things apart). For
        such a question a passage without that sentence does not answer, however like the
        question it is (see generate/further.py)."""
        if self.shape is not None:
            return "shape"
        if self.kind in ("quantity", "name") and _ASKS_DEFAULT.search(self.text):
            return "default"
        return self.kind if self.kind in ("criterion", "difference") else None

    def expects(self, text: str) -> float:
        """1.0 when `text` carries an answer of the kind asked for (and something the question
        does not), 0.5 for a weaker sign, else 0.0. A code block answers only "how" and "which":
        the numbers in a query's output are no default or limit."""
        if text.startswith("```") and self.kind not in ("name", "procedure"):
            return 0.0
        if self.shape is not None and not text.startswith("```"):
            question = self.text.lower()
            if any(m.group(0).lower().strip() not in question for m in self.shape.finditer(text)):
                return 1.0  # "Which operator ...?": "json ->> text → text"
            return SHAPE_MISS * self._carries(text)
        carries = self._carries(text)
        if self.kind in ("quantity", "name") and _ASKS_DEFAULT.search(self.text):
            return 1.0 if _STATES_DEFAULT.search(text) else 0.5 * carries
        return carries

    def _carries(self, text: str) -> float:
        if self.kind == "quantity":
            asked = {w.lower() for w in _TOKEN.findall(self.text)}
            if any(m.group(0).lower().rstrip(".,") not in asked for m in _NUMBER.finditer(_REFERENCE.sub("", text))):
                # "the largest ...?" is answered by a bound ("cannot exceed 10485760"), not by any
                # number ("SQL defines two character types").
                return 1.0 if not _ASKS_LIMIT.search(self.text) or _STATES_LIMIT.search(text) else LIMIT_MISS
            return 0.5 if re.search(r"\bdefault\b", text, re.IGNORECASE) else 0.0
        if self.kind == "reason":
            return 1.0 if _REASON.search(text) else 0.0
        if self.kind == "difference":
            low = text.lower()
            return 1.0 if all(c in low for c in _compared(self.text)) and _CONTRAST.search(text) else 0.0
        if self.kind == "criterion":
            return 1.0 if _STATES_CRITERION.search(text) else 0.0
        if self.kind in ("name", "procedure"):
            question = self.text.lower()
            return 1.0 if any(m.group(0).lower().rstrip("(") not in question for m in _CODE.finditer(text)) else 0.0
        return 0.0


def _compared(question: str) -> list[str]:
    """The two things a difference question compares, lower-cased, without a leading article."""
    m = _ASKS_DIFFERENCE.search(question)
    things = [g for g in m.groups() if g] if m else []
    return [re.sub(r"^(?:the|a|an)\s+", "", t.lower()) for t in things]


_NEGATED = re.compile(r"\bnon-(\w+)", re.IGNORECASE)


def read_question(text: str) -> Question:
    asking = _asking_terms() | _negated(text)
    terms = [t for t in dict.fromkeys(analyzer().terms(text)) if t not in asking]
    kind = next((name for name, pattern in _KINDS if pattern.search(text)), "other")
    if kind == "difference":
        asking = asking | frozenset(analyzer().terms(_DIFFERENCE_ASKING))
        terms = [t for t in terms if t not in asking]
    return Question(
        text,
        terms,
        kind,
        _names(text),
        _versions(text),
        _focus(text, asking),
        _setting(text, terms),
        _shape_asked(text),
    )


_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"'][.!])\s+(?=[A-Z])")


def _setting(text: str, terms: list[str]) -> list[str]:
    """The terms only the question's opening sentences hold: "I edited postgresql.conf. How do I
    get the running server to pick up the change?" asks how to reload; that a passage mentions
    editing the file says less. The asking sentence is the last one."""
    parts = _SENTENCE_END.split(text.strip())
    if len(parts) < 2:
        return []
    asked = set(analyzer().terms(parts[-1]))
    return [t for t in terms if t not in asked]


def _negated(text: str) -> frozenset[str]:
    """Terms the question negates as a modifier: in "an ordinary (non-FULL) VACUUM", a sentence
    about FULL is about the other thing, so they count for no passage. ("without editing X" is
    no such sign: the answer often names what it replaces, measured on pgdocs-qa.)"""
    words = " ".join(m.group(1) for m in _NEGATED.finditer(text))
    return frozenset(analyzer().terms(f"non {words}")) if words else frozenset()


_FOCUS = re.compile(
    r"\b(?:which|what)\s+((?:[\w-]+\s+){0,2}?[\w-]+)\s+(?:do|does|did|is|are|was|were|can|could|should|would|will|"
    r"has|have|must|to)\b",
    re.IGNORECASE,
)


def _focus(text: str, asking: frozenset[str]) -> list[str]:
    """The thing a "which" or "what" question asks for, as stemmed terms: "Which output format do
    I pick?" -> output, format. The answer is usually a sentence that names it: "the directory
    output format is the only one..."."""
    m = _FOCUS.search(text)
    return [t for t in analyzer().terms(m.group(1)) if t not in asking] if m else []


def _versions(text: str) -> list[tuple[str, str]]:
    """ "MySQL 8.0", "PostgreSQL 17", "Python 3.12": a product's name (written as a name) or a
    dotted number; "Arginine 90" or "Figure 3" is no version."""
    return [
        (m.group(1), m.group(2))
        for m in _VERSION.finditer(text)
        if "." in m.group(2) or re.search(r"[A-Z].*[A-Z]|[a-z][A-Z]", m.group(1))
    ]


def _names(text: str) -> list[str]:
    """The parts of the question written as names (see the module docstring); "non-FULL" gives FULL.
    In a question written in title case ("Is the Gate Control Theory Still Valid?"), or a part of
    it before or after a colon ("The Main Gate Syndrome: a new format ...?"), a capital letter
    marks no name."""
    whole = _title_case(text)
    clauses = [(m.start(), m.end(), whole or _title_case(m.group(0))) for m in re.finditer(r"[^:]+", text)]
    names: list[str] = []
    for m in _TOKEN.finditer(text):
        title_case = next((t for start, end, t in clauses if start <= m.start() < end), whole)
        before = text[: m.start()].rstrip()
        first = title_case or not before or before[-1] in ".?!:\"'("
        for i, part in enumerate(p for p in re.split(r"-", m.group(0)) if p):
            if _looks_like_name(part, first or (i > 0 and title_case)) and part not in names:
                names.append(part)
    return names


def _title_case(text: str) -> bool:
    """Most of its longer words capitalised: a title ("The Main Gate Syndrome"), where a capital
    letter marks no name."""
    words = re.findall(r"[A-Za-z]{4,}", text)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.5 * len(words)


def _looks_like_name(word: str, sentence_start: bool) -> bool:
    if re.search(r"[A-Z].*[A-Z]|[a-z][A-Z]|_", word):  # RMAN, MyISAM, InnoDB, work_mem
        return True
    if re.fullmatch(r"[\d.,]+|\d+(?:st|nd|rd|th)", word):  # a value or an ordinal (versions: see _VERSION)
        return False
    if re.search(r"\d", word):  # m5, utf8mb4
        return True
    return word[0].isupper() and not sentence_start and word not in ("I", "I'd", "I'm", "I've")
