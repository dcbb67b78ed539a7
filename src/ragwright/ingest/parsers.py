"""Parsers: bytes of one file -> title and structural blocks. Each raises ParseError with a
reason a person can act on; none of them writes anything."""

from __future__ import annotations

import io
import re
import textwrap
import zipfile
import zlib
from pathlib import Path

from ..types import Block, ParsedDocument

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


class ParseError(Exception):
    """The file cannot be read as the format its name says; the message says why."""


def format_of(path: Path) -> str | None:
    return FORMATS.get(path.suffix.lower())


def parse(
    path: Path,
    data: bytes,
    *,
    fallback_encodings: list[str] | None = None,
    max_docx_bytes: int,
    max_docx_elements: int = 1_000_000,
) -> ParsedDocument:
    """In the calling process, with no deadline: untrusted DOCX and PDF go through
    `limits.parse_bounded`, which calls this in a child process."""
    fmt = format_of(path)
    if fmt is None:
        raise ParseError(f"unsupported file type '{path.suffix or '(none)'}' (supported: {', '.join(sorted(FORMATS))})")
    if not data.strip():
        raise ParseError("file is empty")
    if fmt in ("markdown", "text", "html"):
        text = decode_text(data, fallback_encodings or [])
        doc = {"markdown": parse_markdown, "text": parse_text, "html": parse_html}[fmt](text)
    elif fmt == "pdf":
        doc = parse_pdf(data)
    else:
        doc = parse_docx(data, max_docx_bytes, max_docx_elements)
    if not any(b.text.strip() for b in doc.blocks):
        raise ParseError("no text found in the file")
    if not doc.title:
        doc.title = path.stem
    return doc


def decode_text(data: bytes, fallbacks: list[str]) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with BOM; other encodings only when configured."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-16: {exc.reason} at byte {exc.start}") from exc
    if _looks_binary(data):
        raise ParseError("binary content in a text file (is the extension wrong?)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        for enc in fallbacks:
            try:
                return data.decode(enc)
            except (UnicodeDecodeError, LookupError):
                continue
        raise ParseError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); convert it to UTF-8 "
            'or set ingest.fallback_encodings, e.g. ["cp1252"]'
        ) from exc


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > len(head) * 0.05


def parse_markdown(text: str) -> ParsedDocument:
    """Headings, paragraphs, list items, code blocks and tables: see markdown.py."""
    from .markdown import parse_markdown as parse_source

    return parse_source(text)


_LIST_ITEM = re.compile(r"\s*([-*•]|\d{1,3}[.)])\s")


def parse_text(text: str) -> ParsedDocument:
    """Paragraphs between blank lines; a paragraph indented throughout is code, kept line by
    line; in prose, a wrapped line's break is a space, except before a list item."""
    paras = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks: list[Block] = []
    for para in paras:
        if not para.strip():
            continue
        lines = [ln.rstrip() for ln in para.strip("\n").split("\n")]
        if all(ln.startswith(("    ", "\t")) for ln in lines):
            blocks.append(Block(textwrap.dedent("\n".join(lines)), "code"))
            continue
        out = lines[0].strip()
        for line in lines[1:]:
            out += ("\n" if _LIST_ITEM.match(line) else " ") + line.strip()
        blocks.append(Block(out))
    return ParsedDocument(title="", blocks=blocks, format="text")


def parse_html(text: str) -> ParsedDocument:
    """The page's main content, its text as written: see html.py."""
    from .html import parse_html as parse_page

    return parse_page(text)


def parse_pdf(data: bytes) -> ParsedDocument:
    """Paragraphs, headings and code blocks from a PDF's lines: see pdf.py."""
    from .pdf import parse_pdf as parse_file

    return parse_file(data)


def parse_docx(data: bytes, max_uncompressed: int, max_elements: int = 1_000_000) -> ParsedDocument:
    _check_zip(data, max_uncompressed, max_elements)
    import docx
    from docx.opc.exceptions import OpcError
    from lxml.etree import LxmlError

    try:
        document = docx.Document(io.BytesIO(data))
    except (OpcError, LxmlError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ParseError(f"DOCX cannot be read: {type(exc).__name__}: {exc}") from exc
    title = (document.core_properties.title or "").strip()
    blocks: list[Block] = []
    for para in document.paragraphs:
        txt = para.text.strip()
        if not txt:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        if style == "Title":
            title = title or txt
            blocks.append(Block(txt, "heading", 0))  # above Heading 1, so it stays in the path
        elif style.startswith("Heading") and style[7:].strip().isdigit():
            blocks.append(Block(txt, "heading", min(int(style[7:]), 6)))
        else:
            blocks.append(Block(txt))
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                blocks.append(Block(" | ".join(dict.fromkeys(cells))))
    return ParsedDocument(title=title, blocks=blocks, format="docx")


def _check_zip(data: bytes, max_uncompressed: int, max_elements: int = 1_000_000) -> None:
    """Refuse zip bombs before python-docx reads them: sizes come from the central directory
    (zipfile never inflates a member past its declared size), then the XML members' tags are
    counted as they inflate, in constant memory: python-docx spends about 20 us and 340 bytes on
    each element, so 20 MiB of empty paragraphs (3.5 million, ratio 674) cost 82 s and 1.2 GB."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise ParseError(f"DOCX is not a valid zip archive: {exc}") from exc
    total = sum(i.file_size for i in infos)
    if total > max_uncompressed:
        raise ParseError(
            f"DOCX would expand to {total / 1048576:.0f} MB (limit: {max_uncompressed / 1048576:g} MB, "
            "ingest.max_docx_uncompressed_mb): refused as a possible zip bomb"
        )
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > 1000 and info.file_size > 10_000_000:
            raise ParseError(
                f"DOCX member {info.filename} has a compression ratio over 1000: refused as a possible zip bomb"
            )
    if not any(i.filename == "word/document.xml" for i in infos):
        raise ParseError("DOCX has no word/document.xml (is it really a Word document?)")
    _count_elements(data, [i for i in infos if i.filename.endswith((".xml", ".rels"))], max_elements)


def _count_elements(data: bytes, members: list[zipfile.ZipInfo], limit: int) -> None:
    """Start tags ('<' not followed by '/'), a megabyte at a time: 0.08 s for 20 MiB."""
    count = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in members:
            tail = b""
            try:
                with zf.open(info) as fh:
                    while block := fh.read(1 << 20):
                        count += block.count(b"<") - block.count(b"</") - (tail == b"<" and block[:1] == b"/")
                        tail = block[-1:]
                        if count > limit:
                            raise ParseError(
                                f"DOCX holds over {limit:,} XML elements ({info.filename}), too many to "
                                "parse (limit: ingest.max_docx_xml_elements): refused as a possible "
                                "zip bomb"
                            )
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
                raise ParseError(f"DOCX member {info.filename} cannot be read: {type(exc).__name__}: {exc}") from exc
