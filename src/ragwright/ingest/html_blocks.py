"""The blocks of an HTML element, as a reader would see them: text as written, layout kept.

Inline markup is joined exactly as the page writes it (`<span>json.</span><span>dumps</span>` is
`json.dumps`, not `json. dumps`), and the source's line breaks inside a paragraph are only
spaces. A `<pre>` is a code block with its line breaks; a data table is one block of rows
(`cell | cell`); a definition list's term with a one-paragraph definition makes the paragraph
`term: definition`, a term with a longer one heads a section of its own (every chunk of it is
then indexed under the term's name); a table of one column whose cells are entries of a few
paragraphs (the PostgreSQL manual's tables of functions: signature, description, examples) is read
the same way, an entry a paragraph "signature: description examples", when all its text is in its
cells (rows inside a <form>, a <div> in a row or words written straight into the table would be
lost: such a table is read as paragraphs, as it was before); an admonition's title leads
its first paragraph ("Note: ..."), so that a boxed "Note" does not become a section heading for
the text after it.

Measured with bench/answers_realdocs.py's questions on pgdocs-qa (same index otherwise, one run):
one-column tables as entries 43 -> 44 of 60 correct (pg-058: "split_part" now stands in the
sentence that says what it does), nothing lost.

lxml gives the tree; what is hand-written here is the layout, which no installed library does
for plain text (BeautifulSoup's `get_text(" ")` put a space between every two tags)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..types import Block

if TYPE_CHECKING:
    from lxml.html import HtmlElement

_BR = "\x00"  # stands for <br> in the inline buffer until whitespace is collapsed
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u00ad\ufeff\u2060"))  # zero-width, soft hyphen
# Deeper markup is read as flat text. Python's recursion limit is 1000 frames, and one level of
# markup costs up to 6 of them (a heading in a heading: node, heading, inline_text, blocks_of,
# children, node; a definition list in a definition: 5): at 200, 300 nested <h1>s or 250 <dl>s raised
# RecursionError (the page refused as "nesting too deep"). Real pages nest about 25 deep.
_MAX_DEPTH = 120
_INLINE_DEPTH = 15  # what a heading, term or cell inside another costs of _MAX_DEPTH: 8 of them at most
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "center",
        "details",
        "dialog",
        "dd",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "html",
        "li",
        "main",
        "menu",
        "ol",
        "p",
        "section",
        "summary",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
        "caption",
        "legend",
        "noframes",
    ]
)
# Elements that hold no reader's text: html.py drops them from the page, and this module never
# reads text out of them (nor out of the media and head elements below).
NOT_TEXT = frozenset(
    {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "button", "input"}
    | {"select", "option", "textarea"}
)
_SKIP = NOT_TEXT | frozenset(
    ["head", "title", "meta", "link", "img", "video", "audio", "source", "track", "map", "area"]
)
ADMONITIONS = frozenset(
    [
        "admonition",
        "note",
        "tip",
        "hint",
        "warning",
        "caution",
        "important",
        "attention",
        "danger",
        "error",
        "seealso",
        "todo",
        "callout",
        "notice",
    ]
)
_MARKS = "¶§🔗"  # the permalink marks documentation generators put after a heading
_LONG_DEFINITION = 1000  # characters: about a chunk; a definition longer than this gets its term as a heading
_ENTRY_BLOCKS = 8  # paragraphs a one-column table's cell may have to be read as one entry


def strip_marks(text: str) -> str:
    """text without its trailing whitespace and permalink marks, as `re.sub(r"[\\s¶§🔗]+$", "")`
    had it, in time linear in the marks: that regex retried from every mark of a long run before
    a letter (a heading of 30,000 pilcrows took 7 s in the job thread every tenant shares)."""
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _MARKS):  # isspace() is re's \s
        end -= 1
    return text[:end]


def classes(el: HtmlElement) -> set[str]:
    return set((el.get("class") or "").lower().split())


def blocks_of(el: HtmlElement, level: int = 0, depth: int = 0) -> list[Block]:
    """The blocks of `el`'s content; `level` is the heading level it sits under, `depth` its nesting."""
    renderer = _Renderer(level)
    renderer.children(el, depth)
    renderer.flush()
    return renderer.blocks


def inline_text(el: HtmlElement, depth: int = 0) -> str:
    """`el`'s text on one line (a heading, a term, a table cell). Each one inside another joins
    the inner one's text again: counted `_INLINE_DEPTH` levels deep, so that a page of headings in
    headings is read as flat text after a few (120 nested <h1>s over 1 MB of words took 1.5 s)."""
    return " ".join(" ".join(b.text.split()) for b in blocks_of(el, 0, depth + _INLINE_DEPTH) if b.text)


class _Renderer:
    def __init__(self, level: int) -> None:
        self.blocks: list[Block] = []
        self.buf: list[str] = []
        self.level = level  # of the last heading, so that a definition's term nests under it

    def flush(self) -> None:
        text = _collapse("".join(self.buf))
        self.buf.clear()
        if text:
            self.blocks.append(Block(text))

    def children(self, el: HtmlElement, depth: int) -> None:
        if el.text:
            self.buf.append(el.text)
        for child in el:
            self.node(child, depth + 1)
            if child.tail:
                self.buf.append(child.tail)

    def node(self, el: HtmlElement, depth: int) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""  # comments and processing instructions
        if not tag or tag in _SKIP:
            return
        if depth > _MAX_DEPTH:
            self.buf.append(" " + el.text_content() + " ")
        elif tag == "br":
            self.buf.append(_BR)
        elif tag == "pre":
            self.flush()
            code = code_text(el)
            if code:
                self.blocks.append(Block(code, "code"))
        elif tag in _HEADINGS:
            self.heading(el, _HEADINGS[tag], depth)
        elif tag == "table":
            self.flush()
            self.table(el, depth)
        elif tag == "dl":
            self.flush()
            self.definitions(el, depth)
        elif tag in ("div", "aside", "section") and classes(el) & ADMONITIONS and self.admonition(el, depth):
            pass
        elif tag in _BLOCK_TAGS or tag == "hr":
            self.flush()
            self.children(el, depth)
            self.flush()
        else:
            self.children(el, depth)

    def heading(self, el: HtmlElement, level: int, depth: int) -> None:
        self.flush()
        text = strip_marks(inline_text(el, depth))
        if text:
            self.blocks.append(Block(text, "heading", level))
            self.level = level

    def table(self, table: HtmlElement, depth: int) -> None:
        rows = [[c for c in tr if c.tag in ("td", "th")] for tr in _rows(table)]
        if table.find(".//table") is not None:
            self.children(table, depth)  # layout: its cells are paragraphs
            self.flush()
            return
        if max((len(r) for r in rows), default=0) <= 1:
            cells = [c for r in rows for c in r]
            if rows and _only_cells(table, cells):
                self.entries(table, cells, depth)
                return
            self.children(table, depth)  # text outside the cells (a <form> round the rows, a <div>
            self.flush()  # in a row, words after the rows): read it all, as paragraphs
            return
        self.caption(table, depth)
        lines: list[str] = []
        header = 0
        for tr, cells in zip(_rows(table), rows, strict=True):
            line = " | ".join(inline_text(c, depth) for c in cells).strip(" |")
            if not line:
                continue
            parent = tr.getparent()
            if len(lines) == header and (
                (parent is not None and parent.tag == "thead") or all(c.tag == "th" for c in cells)
            ):
                header += 1
            lines.append(line)
        if lines:
            self.blocks.append(Block("\n".join(lines), "table", header_rows=min(header, len(lines) - 1)))

    def caption(self, table: HtmlElement, depth: int) -> None:
        caption = table.find("caption")
        if caption is not None and inline_text(caption, depth):
            self.blocks.append(Block(inline_text(caption, depth)))

    def entries(self, table: HtmlElement, cells: list[HtmlElement], depth: int) -> None:
        """A table of one column is a list set as a table. A cell of a few short paragraphs is
        one entry, read as a definition is: "name: what it does, example" (a reference table of
        functions: "split_part ( string text, delimiter text, n integer ) → text: Splits string
        at ...", where paragraphs would leave "Splits string at ..." without the name). Any
        other cell's blocks are paragraphs of their own."""
        self.caption(table, depth)
        for cell in cells:
            cell_renderer = _Renderer(self.level)
            cell_renderer.children(cell, depth)
            cell_renderer.flush()
            blocks = cell_renderer.blocks
            self.level = cell_renderer.level  # a heading in a cell heads what follows the table too
            short = sum(len(b.text) for b in blocks) <= _LONG_DEFINITION
            if 2 <= len(blocks) <= _ENTRY_BLOCKS and short and all(b.kind == "paragraph" for b in blocks):
                self.blocks.append(Block(_lead(blocks[0].text, " ".join(b.text for b in blocks[1:]))))
            else:
                self.blocks.extend(blocks)

    def definitions(self, dl: HtmlElement, depth: int) -> None:
        """A term with a one-paragraph definition is the paragraph "term: definition"; a term
        whose definition runs longer heads a section of its own, closed after its last block."""
        term_level = self.level + 1
        for terms, blocks in _entries(dl, term_level, depth):
            term = ", ".join(terms)
            if _is_long(blocks) and term:
                self.blocks.append(Block(term, "heading", term_level))
                self.blocks.extend(blocks)
                self.blocks.append(Block("", "heading", term_level))  # back to the enclosing section
                continue
            text = " ".join(b.text for b in blocks)
            if term or text:
                self.blocks.append(Block(_lead(term, text) if term and text else text or term))

    def admonition(self, el: HtmlElement, depth: int) -> bool:
        """A note, tip or warning box with a title; False (not handled) when it has no title."""
        title_el = next(
            (
                c
                for c in el
                if isinstance(c.tag, str) and (classes(c) & {"admonition-title", "title"} or c.tag in _HEADINGS)
            ),
            None,
        )
        if title_el is None:
            return False
        title = strip_marks(inline_text(title_el, depth))
        if not title or len(title) > 80:
            return False
        self.flush()
        title_el.drop_tree()
        inner = blocks_of(el, self.level, depth)
        lead = title if title.endswith(":") else title + ":"
        if inner and inner[0].kind == "paragraph":
            inner[0] = Block(f"{lead} {inner[0].text}")
        else:
            inner.insert(0, Block(lead))
        self.blocks.extend(inner)
        return True


def code_text(pre: HtmlElement) -> str:
    """A code block as written: line breaks and indentation kept, blank edges trimmed."""
    for node in [n for n in pre.iter() if n is not pre and (not isinstance(n.tag, str) or n.tag in _SKIP)]:
        node.drop_tree()  # a copy button, a comment: not code
    for br in pre.iter("br"):
        br.tail = "\n" + (br.tail or "")
    text = "".join(pre.itertext()).translate(_INVISIBLE).replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def _collapse(text: str) -> str:
    """HTML whitespace: runs of spaces and source line breaks are one space; <br> is a line break."""
    lines = (" ".join(part.split()) for part in text.translate(_INVISIBLE).split(_BR))
    return "\n".join(line for line in lines if line)


def _rows(table: HtmlElement) -> Iterable[HtmlElement]:
    """The table's own rows, not those of a table nested in a cell."""
    for child in table:
        if child.tag == "tr":
            yield child
        elif child.tag in ("thead", "tbody", "tfoot"):
            yield from (tr for tr in child if tr.tag == "tr")


def _only_cells(table: HtmlElement, cells: list[HtmlElement]) -> bool:
    """Whether the table's words are all in its caption and `cells` (none in a <form> or <div>
    round or beside the rows, or written straight into the table), whitespace aside."""
    caption = table.find("caption")
    inside = [c.text_content() for c in ([caption] if caption is not None else []) + cells]
    return "".join(table.text_content().split()) == "".join("".join(inside).split())


def _entries(dl: HtmlElement, term_level: int, depth: int) -> list[tuple[list[str], list[Block]]]:
    """(terms, definition blocks) in order; dt/dd may sit in <div> wrappers (HTML5)."""
    items: list[HtmlElement] = []
    for child in dl:
        if child.tag == "div":
            items.extend(c for c in child if c.tag in ("dt", "dd"))
        elif child.tag in ("dt", "dd"):
            items.append(child)
    entries: list[tuple[list[str], list[Block]]] = []
    terms: list[str] = []
    for item in items:
        if item.tag == "dt":
            term = strip_marks(inline_text(item, depth))
            if term:
                terms.append(term)
        else:
            entries.append((terms, blocks_of(item, term_level, depth)))
            terms = []
    if terms:
        entries.append((terms, []))
    return entries


def _lead(term: str, text: str) -> str:
    """A definition led by what it defines: "term: text"."""
    return f"{term} {text}" if term.endswith(":") else f"{term}: {text}"


def _is_long(blocks: list[Block]) -> bool:
    return len(blocks) > 1 or any(b.kind != "paragraph" or len(b.text) > _LONG_DEFINITION for b in blocks)
