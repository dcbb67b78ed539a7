"""Phone numbers written the national way (no country code), for every region `phonenumbers` knows.

Why: Presidio's phone recognizer, and `phonenumbers.parse` with no region, find a national number
only for a region named beforehand; ragwright's users write numbers the way their country does
("020 7946 0018", "0412 345 678", "06 12 34 56 78", "080-9141-7776"). Trying every region with
`phonenumbers` costs 50 to 250 ms per candidate (pure Python, 245 regions), so this module first
prunes regions with their own metadata (trunk prefix, possible lengths, the general number
pattern: a few microseconds each) and calls `phonenumbers` only for the few that remain.

A national number is accepted without a phone word nearby only when it is valid in a region AND
written as that region writes it: either its digit groups are exactly the region's national
format ("0412 345 678" in AU), or it starts with the region's trunk prefix and is split into
groups by separators (people regroup: "01632 960 983" for the UK's "01632 960983"). Digit runs
that read as something else are refused first (`looks_like_other`): ranges, amounts with thousands
separators (a first group of one or two digits, or a last group of 000: "518 246 281" is how
Poland writes a mobile number), decimals, dates, year ranges, DOIs. Measured by bench/guard_phones.py on SciFact and
PubMedQA (no phone numbers in either) and on numbers generated in each region's formats.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["NationalPhones", "looks_like_other"]

_GROUPS = re.compile(r"\d+")
# Shapes that are numbers of another kind, checked on the candidate as written.
_OTHER = re.compile(
    r"^\d{1,2}(?:([ ,.'\u202f])\d{3})+$|^\d{3}(?:[ ,.'\u202f]\d{3})*[ ,.'\u202f]000$"  # 1 234 567, 125 000 000
    r"|^\d{1,3}(?:,\d{3})+$"  # 518,246,281: a comma groups thousands, never a phone number
    r"|(?:^|\D)0[.,]\d"  # 0.05 0.10 0.20: decimals in a row
    r"|^\d{1,2}([./-])\d{1,2}\2(?:19|20)?\d{2}\b"  # 12.03.1985, 3/4/21: dates
    r"|^(?:19|20)\d\d(?:[ ./-]\d{1,2}){1,2}$"  # 2009 01 02, 2021-03: dates
    r"|^(?:1[6-9]|20)\d\d\s?[-\u2013]\s?(?:1[6-9]|20)?\d\d$"  # 1990-2005: year ranges
    r"|^10\.\d{4,}"  # DOIs
    r"|\d\.\d+\s?[-\u2013 (]|[-\u2013 )]\s?\d+\.\d"  # 35.35-41.23, 13.91 26.84: decimals with another separator
    r"|^\d+\s?[-\u2013]\s?\d*00$"  # 400-1000, 4900-17000: ranges
    r"|\)$"  # 2168 (293): a count and its share
)


_RANGE = re.compile(r"^(\d{3,5})\s?[-\u2013]\s?(\d{3,5})$")


def looks_like_other(candidate: str) -> bool:
    """True when the digits read as an amount, decimal, date, range (pages 2784-2799) or DOI."""
    candidate = candidate.strip()
    pages = _RANGE.match(candidate)
    if pages and len(pages[1]) == len(pages[2]) and 0 < int(pages[2]) - int(pages[1]) < 1000:
        return True
    return bool(_OTHER.search(candidate))


_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@dataclass(frozen=True)
class _Format:
    """One of a region's national formats: when it applies (leading digits, whole pattern) and how
    it writes the number, trunk prefix included where the region writes one."""

    leading: re.Pattern[str] | None
    pattern: re.Pattern[str]
    national: str  # a re.sub template: "0\\1 \\2" for GB's "020 7946 0018"


@dataclass(frozen=True)
class _Plan:
    """The part of a region's numbering plan used here: trunk prefix, possible lengths of the
    national significant number, the union of its number types' patterns (fixed line, mobile,
    toll free...: what phonenumbers' validity check matches), and its national formats."""

    region: str
    trunk: str
    lengths: frozenset[int]
    valid: re.Pattern[str]
    formats: tuple[_Format, ...]

    def nsn(self, digits: str) -> str | None:
        """The national significant number, if the digits can be a valid number here."""
        nsn = digits[len(self.trunk) :] if self.trunk and digits.startswith(self.trunk) else digits
        return nsn if len(nsn) in self.lengths and self.valid.fullmatch(nsn) else None

    def written(self, nsn: str) -> list[str]:
        """The digit groups of the number as the region writes it nationally (phonenumbers' rule:
        the first format whose leading digits and pattern match)."""
        for f in self.formats:
            if (f.leading is None or f.leading.match(nsn)) and f.pattern.fullmatch(nsn):
                return _GROUPS.findall(f.pattern.sub(f.national, nsn))
        return [nsn]

    @classmethod
    def of(cls, region: str) -> _Plan | None:
        import phonenumbers

        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        desc = meta.general_desc if meta is not None else None
        types = [getattr(meta, name, None) for name in _TYPES]
        valid = [t.national_number_pattern for t in types if t and t.national_number_pattern]
        if meta is None or desc is None or not valid:
            return None
        formats = []
        for nf in meta.number_format:
            national = nf.format
            if national is None or nf.pattern is None:
                continue
            if nf.national_prefix_formatting_rule:  # e.g. "0\\1": the trunk written before the first group
                national = national.replace("\\1", nf.national_prefix_formatting_rule, 1)
            lead = nf.leading_digits_pattern[-1] if nf.leading_digits_pattern else None
            formats.append(_Format(re.compile(lead) if lead else None, re.compile(nf.pattern), national))
        return cls(
            region,
            meta.national_prefix or "",
            frozenset(desc.possible_length or ()),
            re.compile("|".join(f"(?:{v})" for v in valid)),
            tuple(formats),
        )


class NationalPhones:
    """`regions(candidate)`: the regions in which a national-format candidate is a valid number
    written that region's way (see the module docstring); empty when none. Thread-safe, results
    cached by candidate. `regions` limits the plans tried (default: every region phonenumbers
    supports)."""

    def __init__(self, regions: Iterable[str] | None = None) -> None:
        self._wanted = None if regions is None else tuple(regions)
        self._plans: tuple[_Plan, ...] | None = None
        self._lock = threading.Lock()
        self.regions = lru_cache(maxsize=4096)(self._regions)

    def _load(self) -> tuple[_Plan, ...]:
        if self._plans is None:
            with self._lock:
                if self._plans is None:
                    import phonenumbers

                    plans = (_Plan.of(r) for r in sorted(self._wanted or phonenumbers.SUPPORTED_REGIONS))
                    self._plans = tuple(p for p in plans if p is not None)
        return self._plans

    def _regions(self, candidate: str) -> tuple[str, ...]:
        candidate = candidate.strip()
        groups = _GROUPS.findall(candidate)
        if len(groups) < 2 or looks_like_other(candidate) or candidate.startswith(("+", "00")):
            return ()
        digits = "".join(groups)
        found = []
        for plan in self._load():
            nsn = plan.nsn(digits)
            if nsn is None:
                continue
            written = plan.written(nsn)
            trunk_written = bool(plan.trunk) and written[0].startswith(plan.trunk) and len(written[0]) > len(plan.trunk)
            if trunk_written and not digits.startswith(plan.trunk):  # "98765 43210" for India's "098765 43210"
                written = [written[0][len(plan.trunk) :], *written[1:]]
            if written == groups or (trunk_written and digits.startswith(plan.trunk)):
                found.append(plan.region)
        return tuple(found)


@lru_cache(maxsize=1)
def national_phones() -> NationalPhones:
    """The process-wide checker over every region (plans loaded on first use; lru_cache is
    thread-safe for this: at worst two threads build one each and one is kept)."""
    return NationalPhones()
