"""Markdown -> title and blocks, through markdown-it-py (CommonMark, plus GFM tables).

A parser rather than line patterns: list items are blocks of their own, a paragraph's source
line breaks are spaces, inline code is kept as written (without its backticks: the same text as
the HTML of the same page), fenced and indented code are code blocks with their lines, and a
table is one block of rows. YAML front matter gives the title and is not indexed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..types import Block, ParsedDocument

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

_YAML_LINE = re.compile(r"^\s*([\w-]+\s*:|-\s|#)|^\s*$")
_TAG = re.compile(r"<[^>]*>")
_md: MarkdownIt | None = None


def _strip_tags(html: str) -> str:
    """_TAG.sub(" ", html) in linear time: past the last ">" no "<" can match, and before it each
    "<" matches up to the next ">"; the regex alone rescanned to the end from every "<" of a run
    without one (40 KB of "<" in an HTML block: 3 s in the job thread)."""
    last = html.rfind(">") + 1
    return _TAG.sub(" ", html[:last]) + html[last:]


def parse_markdown(text: str) -> ParsedDocument:
    title, body = _front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = _blocks(_parser().parse(body))
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return ParsedDocument(title=title, blocks=blocks, format="markdown")


def _parser() -> MarkdownIt:
    global _md
    if _md is None:
        from markdown_it import MarkdownIt

        _md = MarkdownIt("commonmark").enable("table")
    return _md


def _front_matter(text: str) -> tuple[str, str]:
    """(title from YAML front matter, the text after it); a leading `---` rule is not front matter."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return "", text
    for i in range(1, len(lines)):
        if not _YAML_LINE.match(lines[i]) and lines[i].strip() != "---":
            break  # not front matter: a horizontal rule followed by prose
        if lines[i].strip() == "---" and any(":" in x for x in lines[1:i]):
            title = next(
                (m.split(":", 1)[1].strip().strip("'\"") for m in lines[1:i] if m.lower().startswith("title:")), ""
            )
            return title, "\n".join(lines[i + 1 :])
    return "", text


def _blocks(tokens: list[Token]) -> list[Block]:
    blocks: list[Block] = []
    heading = 0
    rows: list[list[str]] = []
    header_rows = 0
    in_head = in_table = False
    for tok in tokens:
        kind = tok.type
        if kind == "heading_open":
            heading = int(tok.tag[1])
        elif kind == "inline":
            text = _inline(tok)
            if in_table:
                rows[-1].append(text)
            elif heading:
                if text:
                    blocks.append(Block(text, "heading", heading))
                heading = 0
            elif text:
                blocks.append(Block(text))
        elif kind in ("fence", "code_block"):
            code = "\n".join(line.rstrip() for line in tok.content.split("\n")).strip("\n")
            if code.strip():
                blocks.append(Block(code, "code"))
        elif kind == "html_block":
            text = " ".join(_strip_tags(tok.content).split())
            if text:
                blocks.append(Block(text))
        elif kind in ("table_open", "table_close"):
            in_table = kind == "table_open"
            if not in_table and rows:
                lines = [" | ".join(r).strip(" |") for r in rows]
                blocks.append(Block("\n".join(lines), "table", header_rows=min(header_rows, len(lines) - 1)))
            rows, header_rows = [], 0
        elif kind in ("thead_open", "thead_close"):
            in_head = kind == "thead_open"
        elif kind == "tr_open":
            rows.append([])
        elif kind == "tr_close" and in_head:
            header_rows += 1
    return blocks


def _inline(tok: Token) -> str:
    parts = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "\n".join(" ".join(line.split()) for line in "".join(parts).split("\n")).strip()
