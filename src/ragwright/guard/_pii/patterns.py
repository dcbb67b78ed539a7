"""What the tuned PII recognizers match (recognizers.py builds Presidio recognizers on these):
regular expressions, context words and the card checksum. Kept free of Presidio, so that
guard/pii.py can name them without the second it takes to import Presidio and spaCy."""

from __future__ import annotations

import re

# A phone number candidate: digit groups with any separators, an optional +country code, (area)
# and extension, not inside a longer word, path or decimal number.
PHONE_RE = re.compile(
    r"(?<![\w+./-])(?:\+\d{1,3}[ .-]?)?(?:\(\+?\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5})){0,6}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-]|[.,/]\d)",
    re.IGNORECASE,
)
# Formats that make digit groups a phone number without a phone word nearby.
PHONE_STRONG = re.compile(
    r"^(?:\+\d|\(\d{2,4}\)|\d{3}-\d{3}-\d{4}\b|00[1-9]\d{0,2}[ .-])|\d\s?(?:x|ext\.?)\s?\d+$", re.IGNORECASE
)
# A capitalised word right after a number: a house number before its street ("370 3911 Fourth Avenue").
CAPITAL_AFTER = re.compile(r"[ \t]+[A-Z][a-z]")
# An identifier's name just before a number ("sample id 4711 0815"): no national phone number.
ID_BEFORE = re.compile(
    r"\b(?:ids?|no|nr|ref|reference|order|invoice|account|batch|lot|sample|case|ticket|isbn|issn|pmid|doi|"
    r"accession|patent|serial|code|zip|postcode|postal|grant|trial|registration|version)\b(?:\s+(?:is|was|number|no\.?|nr\.?|#))*\W{0,3}$",
    re.IGNORECASE,
)
# Words that make weak phone and card candidates count (Presidio's context enhancer).
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
# Issuer prefixes: one of these and 13+ digits make a card without a card word nearby.
CARD_IIN = re.compile(r"^(?:4|5[0-8]|2[2-7]|3[04-9]|6|1800|2131)")
# Country codes that are also common file extensions (setup.py, notes.md, index.ts, Makefile.in).
FILE_TLDS = frozenset(
    {"py", "sh", "md", "rs", "pl", "cc", "so", "ps", "ai", "ts", "mk", "in", "ml", "cs", "gz", "sv", "mm"}
)
# An IBAN written in lower case, checked again in capitals (Presidio's takes capitals only).
LOWER_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[a-z]{2}\d{2}(?:[ -]?[a-z0-9]{4}){2,7}(?:[ -]?[a-z0-9]{1,3})?"
    r"(?![A-Za-z0-9])"
)
# A month's name or abbreviation, for the month-name date patterns.
MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)


def tld_guarded(url_regex: str) -> str:
    """Presidio's URL regex with a quick test before its list of 675 top-level domains: the list,
    one alternative after another, was tried after every dot of every start's 253 characters, so
    "a." repeated cost 1.5 ms a character (a 1 MB chat message to a redacting model: most of an
    hour). A lookahead made of the same names as a trie (c(?:om|o|...)...) rejects a dot that no
    domain follows in a step or two; where one does, the list runs as before, so what matches and
    which name a match ends with are unchanged (checked on random strings against the original)."""
    start = url_regex.index("[.](?:") + len("[.](?:")
    names = url_regex[start : url_regex.index(")(?:/", start)]
    tlds = re.findall(r"\(\?:([a-z]+)\)", names)
    if "|".join(f"(?:{t})" for t in tlds) != names:
        return url_regex  # another shape than the one this was written for: leave it alone
    return url_regex.replace("[.](?:" + names, f"[.](?={_trie(tlds)})(?:" + names, 1)


def _trie(words: list[str]) -> str:
    """An alternation matching a prefix that is one of words, as nested groups by first letter."""
    by_first: dict[str, list[str]] = {}
    for w in words:
        by_first.setdefault(w[0], []).append(w[1:])
    alts = []
    for first, rests in sorted(by_first.items()):
        longer = [r for r in rests if r]
        alts.append(first + (f"(?:{_trie(longer)})" + ("?" if "" in rests else "") if longer else ""))
    return "|".join(alts)


def email_spans(text: str, pattern: str, flags: int) -> list[tuple[int, int]]:
    """Where Presidio's e-mail pattern `\b(X|X[X.]*X)@domain\b` matches in text, found without
    letting it try every start: from each start in a run of local-part characters it scanned to
    the run's end, quadratic in the run (4,000 "a." before an "@": 3.3 s). Every start in the run
    before an "@" shares that "@" and domain, so if the leftmost possible start fails they all
    fail, and the pattern is tried there only. Same spans as its finditer (checked on random
    strings)."""
    import regex  # type: ignore[import-untyped]  # Presidio's engine; no py.typed

    compiled = regex.compile(pattern, flags)
    local = regex.compile(r"[!#$%&'*+\-/=?^_`{|}~\w.]")
    first = regex.compile(r"\b[!#$%&'*+\-/=?^_`{|}~\w]")  # where the pattern's local part may start
    spans: list[tuple[int, int]] = []
    done, at = 0, text.find("@")
    while at != -1:
        start = at
        while start > done and local.match(text, start - 1):
            start -= 1
        while start < at and not first.match(text, start):
            start += 1
        m = compiled.match(text, start) if start < at else None
        if m is not None and m.end() > m.start():
            spans.append(m.span())
            done = m.end()
        at = text.find("@", max(at + 1, done))
    return spans


def luhn(digits: str) -> bool:
    """The Luhn checksum of a card number's digits: what tells a card from any long number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0
