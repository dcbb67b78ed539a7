"""`source` glob patterns: SQLite's GLOB (case-sensitive; * any run, ? one character, [...] and
[^...] classes), the bounds a caller's patterns must keep, and the same patterns as one anchored
PostgreSQL regular expression.

Why bounded: a pattern is matched against every row a reader may read. SQLite's GLOB tries a
class at every position of the source and scans the class linearly, so its cost grows with the
pattern's length, its classes and its stars; PostgreSQL compiled one regex per pattern and keeps
only 32, recompiling each for every row when a filter held more. Review 15 (finding 4): 100
patterns of 1,000 characters took 3.3 s over 150 documents on SQLite and held a PostgreSQL
connection for seconds. People write a few short patterns (`/docs/*.md`, `*report-202[0-4]*`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MAX_FILTER_GLOBS = 8  # patterns in one `source` list
MAX_GLOB_CHARS = 256  # in one pattern
MAX_GLOB_STARS = 8  # `*` in one pattern (outside classes)
MAX_GLOB_CLASS = 32  # characters between a class's [ and ]
GLOB_CHARS = "*?["


def is_glob(value: Any) -> bool:
    """Whether a `source` value is a pattern (matched with GLOB) rather than a source (compared)."""
    return isinstance(value, str) and any(ch in value for ch in GLOB_CHARS)


def check_globs(values: Iterable[Any]) -> None:
    """A ValueError naming the bound the `source` values pass (the API's 422, the store's ValueError)."""
    globs = [v for v in values if is_glob(v)]
    if len(globs) > MAX_FILTER_GLOBS:
        raise ValueError(f"filter 'source': at most {MAX_FILTER_GLOBS} patterns with * ? or [ ({len(globs)} given)")
    for pattern in globs:
        if len(pattern) > MAX_GLOB_CHARS:
            raise ValueError(
                f"filter 'source': a pattern has at most {MAX_GLOB_CHARS} characters ({len(pattern)} given)"
            )
        stars, longest = _shape(pattern)
        if stars > MAX_GLOB_STARS:
            raise ValueError(f"filter 'source': a pattern has at most {MAX_GLOB_STARS} '*' ({stars} given)")
        if longest > MAX_GLOB_CLASS:
            raise ValueError(
                f"filter 'source': a [...] class holds at most {MAX_GLOB_CLASS} characters ({longest} given)"
            )


def _shape(pattern: str) -> tuple[int, int]:
    """(the `*` outside classes, the longest class's characters between its brackets; an unclosed
    class runs to the end, as SQLite reads it)."""
    stars = longest = i = 0
    while i < len(pattern):
        if pattern[i] == "*":
            stars += 1
        elif pattern[i] == "[":
            parsed = glob_class(pattern, i)
            end = len(pattern) if parsed is None else parsed[2]
            longest = max(longest, end - i - 1)
            i = end
        i += 1
    return stars, longest


def globs_regex(patterns: Iterable[str]) -> str:
    """Patterns as ONE anchored regex (`^(?:r1|r2|...)$`): PostgreSQL compiles it once per query,
    where a regex per pattern was recompiled for every row once a query held more than 32."""
    return "^(?:" + "|".join(_regex_body(p) for p in patterns) + ")$"


def glob_regex(pattern: str) -> str:
    """SQLite's GLOB as an anchored POSIX regular expression (PostgreSQL's ARE)."""
    return "^" + _regex_body(pattern) + "$"


def _regex_body(pattern: str) -> str:
    """The pattern unanchored: * any run, ? one character, and [...] a class read as SQLite reads
    it (glob_class); everything else literal. What never matches (an unclosed or empty class) is `$.`."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            parsed = glob_class(pattern, i)
            if parsed is None:  # SQLite: an unclosed class matches nothing
                return "".join(out) + "$."
            ranges, invert, i = parsed
            body = "".join(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in ranges if lo <= hi)
            out.append(("[^" + body + "]" if body else ".") if invert else ("[" + body + "]" if body else "$."))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_class(pattern: str, start: int) -> tuple[list[tuple[str, str]], bool, int] | None:
    """The class opened at `start`, as SQLite's patternCompare reads it: (ranges, inverted, index
    of the closing ']'), or None when unclosed. '^' first inverts; ']' first (after any '^') is
    literal; '-' makes a range between the character before and after it, unless it comes first,
    last, or right after a range (then it is literal); a range whose ends are reversed matches
    nothing (its first character still matches alone)."""
    ranges: list[tuple[str, str]] = []
    i, invert, prior = start + 1, False, ""
    if pattern[i : i + 1] == "^":
        invert, i = True, i + 1
    if pattern[i : i + 1] == "]":
        ranges.append(("]", "]"))
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        ch = pattern[i]
        if ch == "-" and prior and i + 1 < len(pattern) and pattern[i + 1] != "]":
            ranges.append((prior, pattern[i + 1]))  # the character before matched alone, too
            prior, i = "", i + 2
            continue
        ranges.append((ch, ch))
        prior, i = ch, i + 1
    return (ranges, invert, i) if i < len(pattern) else None


def _esc(ch: str) -> str:
    """A character inside a bracket expression of a PostgreSQL ARE."""
    return "\\" + ch if ch in "\\]^-[" else ch
