"""Redaction of PII spans (mask, typed placeholder, reversible pseudonym) and secret detection.

Why pseudonyms and not just placeholders: a model asked about "<PERSON_1> and <PERSON_2>" can still
tell the two apart and answer about each, and the answer is readable once `restore` puts the real
names back. One `Pseudonymizer` per request keeps "same value -> same placeholder" within it and
nothing across requests. Models echo placeholders loosely ("< person_1 >", "[PERSON 1]",
"&lt;PERSON_1&gt;", "\\<PERSON\\_1\\>"), so restore accepts those too, but only for placeholders
it issued: a "<PERSON_7>" it never made stays as written.

Secrets are found by format (provider key prefixes, JWTs, PEM blocks) and, for generic names
(`api_key = ...`, `password: ...`), by the value's entropy, so that prose such as "the key is
important" is not flagged. At ingestion they are flagged, and redacted when configured
(`guard_document`).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .pii import PiiDetector, PiiSpan

Mode = Literal["mask", "placeholder", "pseudonym"]
MODES: tuple[str, ...] = ("mask", "placeholder", "pseudonym")


def _non_overlapping(spans: Iterable[PiiSpan]) -> list[PiiSpan]:
    kept: list[PiiSpan] = []
    for s in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if s.end > s.start and (not kept or s.start >= kept[-1].end):
            kept.append(s)
    return kept


def redact(
    text: str,
    spans: Iterable[PiiSpan],
    mode: Mode = "placeholder",
    pseudonymizer: Pseudonymizer | None = None,
    mask_char: str = "*",
) -> str:
    """text with each span replaced: "mask" -> "*****" (same length, line breaks kept), "placeholder"
    -> "<PERSON>", "pseudonym" -> "<PERSON_1>" from `pseudonymizer` (a new one if None: pass one to
    restore later). Overlapping spans: the earlier (then longer) one wins."""
    if mode not in MODES:
        raise ValueError(f"unknown redaction mode {mode!r}: use one of {', '.join(MODES)}")
    if mode == "pseudonym" and pseudonymizer is None:
        pseudonymizer = Pseudonymizer()
    out, pos = [], 0
    for s in _non_overlapping(spans):
        out.append(text[pos : s.start])
        value = text[s.start : s.end]
        if mode == "mask":
            out.append("".join(ch if ch in "\r\n" else mask_char for ch in value))
        elif mode == "placeholder":
            out.append(f"<{s.label}>")
        else:
            assert pseudonymizer is not None
            out.append(pseudonymizer.placeholder(value, s.label))
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


def _normal(value: str) -> str:
    return " ".join(value.split()).casefold()


_SEP = r"(?:\\?_|\s|-)"


def _echo_pattern(labels: Iterable[str]) -> re.Pattern[str]:
    """A placeholder of these labels as a model may echo it: <PERSON_1>, < person_1 >, [PERSON 1],
    {PERSON-1}, &lt;PERSON_1&gt;, \\<PERSON\\_1\\>, or bare PERSON_1."""
    names = "|".join(_SEP.join(map(re.escape, lab.split("_"))) for lab in sorted(labels, key=len, reverse=True))
    return re.compile(
        rf"(?:(&lt;|\\?<|\[|\{{)[ \t]*)?\b({names}){_SEP}?[ \t]*(\d{{1,4}})\b"
        rf"(?:[ \t]*(&gt;|\\?>|\]|\}}))?",
        re.IGNORECASE,
    )


@dataclass
class Pseudonymizer:
    """Consistent, reversible placeholders for one request: the same value (ignoring case and
    spacing) always gets the same `<LABEL_n>`; `restore` maps them back."""

    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    _values: dict[str, str] = field(default_factory=dict)
    _counts: Counter[str] = field(default_factory=Counter)

    def placeholder(self, value: str, label: str) -> str:
        """The placeholder for value (issued on first sight, reused after)."""
        key = (label, _normal(value))
        if key not in self._by_value:
            self._counts[label] += 1
            tag = f"<{label}_{self._counts[label]}>"
            self._by_value[key] = tag
            self._values[tag] = value
        return self._by_value[key]

    def pseudonymize(self, text: str, spans: Iterable[PiiSpan]) -> str:
        """redact(text, spans, "pseudonym", self)."""
        return redact(text, spans, "pseudonym", self)

    @property
    def mapping(self) -> dict[str, str]:
        """placeholder -> original value, for everything issued so far."""
        return dict(self._values)

    def restore(self, text: str) -> str:
        """text with every placeholder this object issued (in any echoed form) replaced by its value.
        A bare form ("person 1") counts only when written with an underscore or in capitals."""
        if not self._values:
            return text

        def sub(m: re.Match[str]) -> str:
            opened, label, number, closed = m.groups()
            if not (opened or closed) and not ("_" in m.group() or label.isupper()):
                return m.group()
            tag = "<" + re.sub(_SEP + "+", "_", label.replace("\\", "")).upper() + f"_{int(number)}>"
            return self._values.get(tag, m.group())

        return _echo_pattern(self._counts).sub(sub, text)

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        """restore() over a streamed answer: a placeholder split across pieces is held back until
        it is complete, so no piece shows half of one."""
        held = ""
        for piece in pieces:
            held += piece
            cut = restorable_length(held)
            if cut:
                yield self.restore(held[:cut])
                held = held[cut:]
        if held:
            yield self.restore(held)


def restorable_length(text: str, longest: int = 48) -> int:
    """How much of text can be restored now: all but a tail that may be the start of a placeholder."""
    start = max(text.rfind("<"), text.rfind("["), text.rfind("{"), text.rfind("&"))
    if start == -1 or len(text) - start > longest or re.search(r"[>\]}]|&gt;", text[start + 1 :]):
        # Bare placeholders ("PERSON_1") may also be cut: hold back a trailing word and number.
        body = text[:-1] if text.endswith("\n") else text  # the regex's `$` also matched before a final \n
        tail = _bare_tail(body)
        return tail if body[tail:].strip() else len(text)
    return start


_BARE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_\\ "


def _bare_tail(text: str) -> int:
    """Where the trailing `[A-Za-z_\\ ]*\\d*` of text starts, found from the end: the regex search
    for it tried every start and was quadratic on a long run of letters before a full stop."""
    end = len(text)
    while end and text[end - 1].isdecimal():  # \d: Unicode decimal digits
        end -= 1
    return len(text[:end].rstrip(_BARE_LETTERS))


# -- secrets -------------------------------------------------------------------------------------

# Every pattern here runs on whatever a client sends to a redacting model and on every block of
# every upload, so each is written to take time linear in the text (tests/guard/test_redact_redos.py
# times them on repeated separators, long runs and alternations): a quantifier that could give
# back what it took is possessive where what follows cannot match what it holds, a name is
# matched only from the start of its run, and the two formats that would otherwise be retried
# from many starts inside one run (PEM blocks, JWTs) are found by the loops below.
_SECRET_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(rx))
    for label, rx in (
        ("AWS_ACCESS_KEY", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        ("GITHUB_TOKEN", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})\b"),
        ("SLACK_TOKEN", r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
        ("API_KEY", r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),  # OpenAI, Anthropic
        ("API_KEY", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
        ("API_KEY", r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google
        ("API_KEY", r"\b(?:glpat|hf|npm|pypi)[-_][A-Za-z0-9_-]{20,}"),  # GitLab, Hugging Face, npm, PyPI
    )
)
_PEM = r"((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK|)-----"
_PEM_BEGIN = re.compile("-----BEGIN " + _PEM)
_PEM_END = re.compile("(?=-----END " + _PEM + ")")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{16,}")
_JWT_START = re.compile(r"\beyJ")
_JWT_RUN = re.compile(r"[A-Za-z0-9_-]*")
# A generic name (`db_password`, `.api-key`) is the whole run of [\w.-] from its first word
# character, holding one of the words; then `=`, `:=`, `=>` or `:` and a value.
_ASSIGNED = re.compile(
    r"(?i)(?<![\w.-])[.-]*+((?=[\w.-]*?(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|access[_-]?key|"
    r"private[_-]?key|credentials?|auth))\w[\w.-]*+)[\"']?\s*+(?:=|:=|=>|:)\s*+"
    r"(?:\"([^\"\n]{6,})\"|'([^'\n]{6,})'|([^\s\"',;`]{6,}))"
)
_BEARER = re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{20,}=*)")
_NOT_A_VALUE = re.compile(
    r"(?i)^(?:\$\{?\w+\}?|%\(?\w+\)?s?|<[^>]*>|\{\{.*\}\}|x+|\*+|\.+|none|null|true|false|"
    r"changeme|password|secret|your[_-].*|example.*|os\.environ.*|env\(.*|getenv.*)$"
)


def _private_keys(text: str) -> Iterator[tuple[int, int]]:
    """PEM and PGP private key blocks, BEGIN to the first matching END (what the lazy
    `BEGIN (words)PRIVATE KEY-----[\\s\\S]*?-----END (same words)PRIVATE KEY-----` found, which
    rescanned the rest of the text from every BEGIN without an END). The ENDs are indexed once."""
    if "-----BEGIN " not in text:
        return
    ends: dict[tuple[str, str], list[int]] = {}
    for e in _PEM_END.finditer(text):
        ends.setdefault((e[1], e[2]), []).append(e.start())
    pos = 0
    while (m := _PEM_BEGIN.search(text, pos)) is not None:
        at = ends.get((m[1], m[2]), [])
        i = bisect.bisect_left(at, m.end())
        if i == len(at):
            pos = m.start() + 1
            continue
        end = at[i] + len("-----END ") + len(m.group(1)) + len("PRIVATE KEY") + len(m.group(2)) + len("-----")
        yield m.start(), end
        pos = end


def _jwts(text: str) -> Iterator[re.Match[str]]:
    """JWTs, as `\\beyJ...` found them; a start that fails makes every later start in the same run
    of token characters fail too (the same end, less length), so those are skipped, not retried."""
    pos = 0
    while (s := _JWT_START.search(text, pos)) is not None:
        m = _JWT.match(text, s.start())
        if m is not None:
            yield m
            pos = m.end()
        else:
            run = _JWT_RUN.match(text, s.start())
            pos = max(s.end(), run.end() if run else 0)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character (random base64 ~5-6, English words ~3-4)."""
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def find_secrets(text: str) -> list[PiiSpan]:
    """API keys, tokens, private keys and assigned secrets in text, as spans labelled API_KEY,
    AWS_ACCESS_KEY, GITHUB_TOKEN, SLACK_TOKEN, JWT, PRIVATE_KEY or SECRET (generic: a value assigned
    to a key/token/secret/password name, kept when it looks random enough)."""
    found = [PiiSpan(a, b, "PRIVATE_KEY", 1.0, text[a:b]) for a, b in _private_keys(text)]
    found += [PiiSpan(m.start(), m.end(), "JWT", 1.0, m.group()) for m in _jwts(text)]
    for label, rx in _SECRET_FORMATS:
        found += [PiiSpan(m.start(), m.end(), label, 1.0, m.group()) for m in rx.finditer(text)]
    for m in _BEARER.finditer(text):
        found.append(PiiSpan(m.start(1), m.end(1), "SECRET", 0.9, m.group(1)))
    for m in _ASSIGNED.finditer(text):
        g = next(i for i in (2, 3, 4) if m.group(i) is not None)
        value = m.group(g).strip()
        if _NOT_A_VALUE.match(value) or (" " in value.strip() and g == 4):
            continue
        is_password = re.search(r"(?i)pass|pwd", m.group(1)) is not None
        bits = entropy(value)
        if is_password or (len(value) >= 16 and bits >= 3.5 and re.search(r"\d", value)):
            found.append(PiiSpan(m.start(g), m.start(g) + len(value), "SECRET", round(min(1.0, bits / 5), 3), value))
    kept: list[PiiSpan] = []
    for s in sorted(found, key=lambda s: (-s.score, -(s.end - s.start))):
        if all(s.end <= k.start or k.end <= s.start for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


@dataclass(frozen=True)
class GuardedText:
    """What ingestion stores (`text`) and what it found on the way (for the report and the log)."""

    text: str
    secrets: list[PiiSpan]
    pii: list[PiiSpan]


def guard_document(
    text: str,
    *,
    redact_secrets: bool = False,
    pii_mode: Mode | None = None,
    detector: PiiDetector | None = None,
    entities: Sequence[str] | None = None,
) -> GuardedText:
    """Ingestion's hook: secrets are always flagged and, with redact_secrets, replaced by typed
    placeholders; with pii_mode ("mask" or "placeholder"), PII is redacted too (a pseudonym would
    need its mapping kept, which an index must not)."""
    secrets = find_secrets(text)
    pii: list[PiiSpan] = []
    if pii_mode is not None:
        if pii_mode == "pseudonym":
            raise ValueError("pseudonyms are for requests; at ingestion use pii_mode='mask' or 'placeholder'")
        from .pii import default_detector

        pii = (detector or default_detector()).scan(text)
        if entities is not None:
            pii = [s for s in pii if s.label in set(entities)]
    spans = (secrets if redact_secrets else []) + pii
    return GuardedText(redact(text, spans, pii_mode or "placeholder") if spans else text, secrets, pii)


# -- traces --------------------------------------------------------------------------------------

_ID_KEYS = {
    "trace_id",
    "span_id",
    "parent_id",
    "doc_id",
    "chunk_id",
    "doc_ids",
    "chunk_ids",
    "key_id",
    "tenant",
    "name",
    "status",
    "model",
    "route",
    "kind",
    "mode",
    "policy",
    "source",
    "location",
}


def redact_strings(data: Any, entities: Sequence[str], detector: PiiDetector | None = None) -> Any:
    """A copy of a JSON-like value (a trace) with personal data in its texts replaced by <LABEL>;
    ids, names and sources are left as they are. All texts are scanned in one batch."""
    texts: list[str] = []
    _collect(data, texts)
    if not texts:
        return data
    from .pii import default_detector

    wanted = set(entities)
    found = (detector or default_detector()).scan_many(texts)
    redacted = iter(
        [
            redact(
                t,
                [s for s in spans if s.label in wanted] + (find_secrets(t) if "SECRET" in wanted else []),
                "placeholder",
            )
            for t, spans in zip(texts, found, strict=True)
        ]
    )
    return _rebuild(data, redacted)


def _collect(value: Any, out: list[str], key: str = "") -> None:
    if isinstance(value, str):
        if key not in _ID_KEYS and value.strip():
            out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect(v, out, k)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, out, key)


def _rebuild(value: Any, redacted: Iterator[str], key: str = "") -> Any:
    if isinstance(value, str):
        return next(redacted) if key not in _ID_KEYS and value.strip() else value
    if isinstance(value, dict):
        return {k: _rebuild(v, redacted, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rebuild(v, redacted, key) for v in value]
    return value
