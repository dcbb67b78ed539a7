"""PDF -> title and blocks: the lines pypdf finds, put back into what the author wrote.

A PDF holds positioned lines, not paragraphs. Lines are rejoined into paragraphs (split where
the spacing widens, after a short line that ends a sentence, before a list bullet); words
hyphenated at a line's end are joined again, unless the document writes that word with its
hyphen elsewhere ("well-known"); running headers and footers (the same line at the top or bottom
of most pages, page numbers aside) and bare page numbers are dropped; lines set in a larger font
are headings, and runs of lines in a monospaced font are code blocks with their indentation.

pypdf (pinned) reads the file; it gives text with positions and fonts, and the layout
decisions here are what it leaves to its callers."""

from __future__ import annotations

import io
import itertools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..types import Block, ParsedDocument
from .parsers import ParseError

if TYPE_CHECKING:
    from pypdf import PageObject

_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_MONO = re.compile(r"courier|mono|code|consol|menlo|inconsolata", re.I)
_ROMAN = r"(?=[mdclxvi])m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})"
# \u2013 is the en dash
_PAGE_NUMBER = re.compile(rf"(page\s*)?[-\u2013(\[]?\s*(\d+|{_ROMAN})\s*[-\u2013)\]]?(\s*(of|/)\s*\d+)?", re.I)
_BULLET = re.compile(r"([•◦▪‣·\-\u2013*]|\d{1,2}[.)]|[a-z][.)])\s")
_HYPHENATED = re.compile(r"(?<!\w)(\w+)-$")  # from a word's start only: one long word is scanned once
_FIRST_WORD = re.compile(r"[a-z]\w*")


@dataclass(slots=True)
class Line:
    """One line of a page: its text, font size, baseline height, left edge, and whether every
    piece of it is set in a monospaced font."""

    text: str
    size: float
    y: float
    x: float = 0.0
    mono: bool = False


def parse_pdf(data: bytes) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.lstrip().startswith(b"%PDF-"):
        raise ParseError("not a PDF file (no %PDF- header)")
    if b"%%EOF" not in data[-2048:]:
        raise ParseError("PDF is truncated (no %%EOF marker at its end); re-export or re-download it")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise ParseError("PDF is encrypted; remove the password (e.g. qpdf --decrypt) and ingest it again")
        pages = [pdf_lines(page) for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except ParseError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, ZeroDivisionError) as exc:
        raise ParseError(f"PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    blocks = pdf_blocks(drop_running_lines(pages))
    if not blocks:
        raise ParseError("PDF has no extractable text (scanned images? run OCR first)")
    return ParsedDocument(title=str(meta_title).strip(), blocks=blocks, format="pdf")


def pdf_lines(page: PageObject) -> list[Line]:
    """The lines of a page, from pypdf's text visitor: pieces on one baseline make one line."""
    lines: list[Line] = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            return
        scale = abs(tm[3] * cm[3]) or 1.0
        y = tm[5] * cm[3] + cm[5]
        mono = bool(_MONO.search(str((font or {}).get("/BaseFont", "")))) if isinstance(font, dict) else False
        if lines and abs(lines[-1].y - y) < 1.0:
            last = lines[-1]
            last.text += text
            last.size = max(last.size, size * scale)
            last.mono = last.mono and mono
        else:
            lines.append(Line(text, size * scale, y, tm[4] * cm[0] + cm[4], mono))

    page.extract_text(visitor_text=visit)
    for line in lines:
        text = line.text.translate(_LIGATURES).replace("\u00ad\n", "").rstrip("\n")
        line.text = text.rstrip() if line.mono else " ".join(text.split())
    return [ln for ln in lines if ln.text.strip()]


def drop_running_lines(pages: list[list[Line]]) -> list[list[Line]]:
    """Without running headers and footers: lines in the top or bottom two rows of a page,
    shorter than a full line of text, that recur (digits aside) on at least half of the pages;
    and bare page numbers there."""
    lengths = sorted(len(ln.text) for page in pages for ln in page)
    short = 0.8 * lengths[len(lengths) * 3 // 4] if lengths else 0

    def edges(lines: list[Line]) -> list[Line]:
        rows = sorted({round(ln.y) for ln in lines})
        band = set(rows[:2] + rows[-2:])
        return [ln for ln in lines if round(ln.y) in band and len(ln.text) < short]

    def key(line: Line) -> str:
        return re.sub(r"\d+", "#", line.text.lower()).strip()

    seen: dict[str, int] = {}
    for lines in pages:
        for k in {key(ln) for ln in edges(lines)}:
            seen[k] = seen.get(k, 0) + 1
    needed = max(2, math.ceil(len(pages) / 2))
    out = []
    for lines in pages:
        edge = {id(ln) for ln in edges(lines)} if len(lines) > 2 else set()
        out.append(
            [
                ln
                for ln in lines
                if id(ln) not in edge or not (seen[key(ln)] >= needed or _PAGE_NUMBER.fullmatch(ln.text.strip()))
            ]
        )
    return out


def pdf_blocks(pages: list[list[Line]]) -> list[Block]:
    """Lines -> headings (set in a larger font than the body), paragraphs and code blocks."""
    weights: dict[float, int] = {}
    for line in (ln for page in pages for ln in page):
        weights[round(line.size, 1)] = weights.get(round(line.size, 1), 0) + len(line.text)
    if not weights:
        return []
    body = max(weights, key=weights.__getitem__)
    heading_sizes = sorted(
        {
            round(ln.size, 1)
            for page in pages
            for ln in page
            if ln.size >= body * 1.15 and len(ln.text) <= 150 and not ln.mono
        },
        reverse=True,
    )[:6]
    level = {size: i + 1 for i, size in enumerate(heading_sizes)}
    vocabulary = {w.lower() for page in pages for ln in page for w in re.findall(r"\w+(?:-\w+)*", ln.text)}
    lengths = sorted(len(ln.text) for page in pages for ln in page if not ln.mono)
    full = lengths[len(lengths) * 3 // 4] if lengths else 0  # a full line's length
    blocks: list[Block] = []
    for number, lines in enumerate(pages, start=1):
        blocks.extend(_page_blocks(lines, number, level, vocabulary, full))
    return blocks


def _page_blocks(
    lines: list[Line], number: int, level: dict[float, int], vocabulary: set[str], full: int
) -> list[Block]:
    gaps = sorted(abs(a.y - b.y) for a, b in itertools.pairwise(lines))
    usual = gaps[len(gaps) // 4] if gaps else 0.0  # the usual line spacing, below paragraph gaps
    blocks: list[Block] = []
    run: list[Line] = []

    def flush() -> None:
        if run and run[0].mono:
            blocks.append(Block(_code(run), "code", page=number))
        elif run:
            blocks.append(Block(_join_lines([ln.text for ln in run], vocabulary), page=number))
        run.clear()

    prev: Line | None = None
    for line in lines:
        if round(line.size, 1) in level and len(line.text) <= 150 and not line.mono:
            flush()
            blocks.append(Block(line.text, "heading", level[round(line.size, 1)], page=number))
        else:
            if prev is not None and run and _breaks(prev, line, usual, full):
                flush()
            run.append(line)
        prev = line
    flush()
    return blocks


def _breaks(prev: Line, line: Line, usual: float, full: int) -> bool:
    """Whether `line` starts a new block after `prev`."""
    if prev.mono != line.mono or (usual and abs(prev.y - line.y) > usual * 1.4):
        return True
    if line.mono:
        return False
    ends_sentence = prev.text.endswith((".", "!", "?", ":"))
    return (ends_sentence and len(prev.text) < 0.7 * full) or bool(_BULLET.match(line.text))


def _join_lines(texts: list[str], vocabulary: set[str]) -> str:
    """Lines of one paragraph as one text: a word broken by a hyphen at a line's end is mended."""
    out = texts[0]
    for text in texts[1:]:
        hyphen = _HYPHENATED.search(out) if out.endswith(("-", "-\n")) else None
        word = _FIRST_WORD.match(text)
        if hyphen and word:
            left, right = hyphen.group(1), word.group(0)
            kept = f"{left}-{right}".lower() in vocabulary and f"{left}{right}".lower() not in vocabulary
            out = out if kept else out[:-1]
            out += text
        else:
            out += " " + text
    return out


def _code(lines: list[Line]) -> str:
    """Monospaced lines as code, indented by their distance from the block's left edge (and by
    the spaces they start with, when the PDF writes those)."""
    left = min(ln.x for ln in lines)
    width = max(lines[0].size * 0.6, 1.0)  # the advance of a monospaced glyph: 600/1000 em
    return "\n".join(" " * max(0, round((ln.x - left) / width)) + ln.text.rstrip() for ln in lines)
