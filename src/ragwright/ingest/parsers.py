"""Parsers: bytes of one file -> title and structural blocks. Each raises ParseError with a
reason a person can act on; none of them writes anything."""

from __future__ import annotations

import io
import re
import zipfile
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


def parse(path: Path, data: bytes, *, fallback_encodings: list[str] | None = None, max_docx_bytes: int) -> ParsedDocument:
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
        doc = parse_docx(data, max_docx_bytes)
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
            "or set ingest.fallback_encodings, e.g. [\"cp1252\"]"
        ) from exc


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > len(head) * 0.05


_ATX = re.compile(r"(#{1,6})[ \t]+(.*)")  # no nested quantifiers: linear on any line
_YAML_LINE = re.compile(r"^\s*([\w-]+\s*:|-\s|#)|^\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def parse_markdown(text: str) -> ParsedDocument:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title = ""
    if lines and lines[0].strip() == "---":  # YAML front matter: keep its title, drop the rest
        for i in range(1, len(lines)):
            if not _YAML_LINE.match(lines[i]) and lines[i].strip() != "---":
                break  # not front matter: a horizontal rule followed by prose
            if lines[i].strip() == "---" and any(":" in x for x in lines[1:i]):
                for meta in lines[1:i]:
                    if meta.lower().startswith("title:"):
                        title = meta.split(":", 1)[1].strip().strip("'\"")
                lines = lines[i + 1 :]
                break
    blocks: list[Block] = []
    para: list[str] = []
    in_fence = False

    def flush() -> None:
        if para:
            blocks.append(Block("\n".join(para).strip()))
            para.clear()

    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            para.append(line)
            if not in_fence:
                flush()
            continue
        if in_fence:
            para.append(line)
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            blocks.append(Block(atx.group(2).strip().rstrip("#").strip(), "heading", len(atx.group(1))))
        elif re.fullmatch(r"\s*(=+|-+)\s*", line) and len(para) == 1 and line.strip():
            blocks.append(Block(para.pop(), "heading", 1 if "=" in line else 2))  # setext heading
        elif not line.strip() or (not para and re.fullmatch(r"\s*([-*_])(\s*\1){2,}\s*", line)):
            flush()  # blank line, or a thematic break (---, ***) between paragraphs
        else:
            para.append(line)
    flush()
    blocks = [b for b in blocks if b.text]
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return ParsedDocument(title=title, blocks=blocks, format="markdown")


def parse_text(text: str) -> ParsedDocument:
    paras = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = [Block(p.strip()) for p in paras if p.strip()]
    return ParsedDocument(title="", blocks=blocks, format="text")


_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "div",
               "section", "article", "figcaption", "caption"]


def parse_html(text: str) -> ParsedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg", "nav", "head"]):
        if tag.name == "head":
            continue
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root = soup.body or soup
    blocks: list[Block] = []
    for el in root.find_all(_BLOCK_TAGS):
        if el.name[0] == "h" and el.name[1:].isdigit():
            txt = el.get_text(" ", strip=True)
            if txt:
                blocks.append(Block(txt, "heading", int(el.name[1])))
        elif el.find(_BLOCK_TAGS) is None:  # leaf blocks only: no text counted twice
            txt = el.get_text(" ", strip=True)
            if txt:
                blocks.append(Block(txt))
    if not blocks:  # text outside any block tag
        txt = root.get_text(" ", strip=True)
        if txt:
            blocks.append(Block(txt))
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    return ParsedDocument(title=title, blocks=blocks, format="html")


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
        pages = [_pdf_lines(page) for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except ParseError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, ZeroDivisionError) as exc:
        raise ParseError(f"PDF cannot be read: {type(exc).__name__}: {exc}") from exc
    blocks = _pdf_blocks(pages)
    if not blocks:
        raise ParseError("PDF has no extractable text (scanned images? run OCR first)")
    return ParsedDocument(title=str(meta_title).strip(), blocks=blocks, format="pdf")


def _pdf_lines(page) -> list[tuple[str, float, float]]:  # noqa: ANN001 - pypdf PageObject
    """(text, font size, y) per line of a page, from pypdf's text visitor."""
    lines: list[list] = []

    def visit(text: str, cm: list, tm: list, font: object, size: float) -> None:
        if not text.strip():
            return
        scale = abs(tm[3] * cm[3]) or 1.0
        y = tm[5] * cm[3] + cm[5]
        if lines and abs(lines[-1][2] - y) < 1.0:
            lines[-1][0] += text
            lines[-1][1] = max(lines[-1][1], size * scale)
        else:
            lines.append([text, size * scale, y])

    page.extract_text(visitor_text=visit)
    return [(" ".join(t.split()), size, y) for t, size, y in lines if t.strip()]


def _pdf_blocks(pages: list[list[tuple[str, float, float]]]) -> list[Block]:
    """Lines -> headings (set in a larger font than the body) and paragraphs (split at wide gaps)."""
    weights: dict[float, int] = {}
    for line in (ln for page in pages for ln in page):
        weights[round(line[1], 1)] = weights.get(round(line[1], 1), 0) + len(line[0])
    if not weights:
        return []
    body = max(weights, key=weights.__getitem__)
    heading_sizes = sorted({round(s, 1) for page in pages for t, s, _ in page if s >= body * 1.15 and len(t) <= 150},
                           reverse=True)[:6]
    level = {size: i + 1 for i, size in enumerate(heading_sizes)}
    blocks: list[Block] = []
    for number, lines in enumerate(pages, start=1):
        gaps = sorted(abs(a[2] - b[2]) for a, b in zip(lines, lines[1:]))
        usual = gaps[len(gaps) // 4] if gaps else 0.0  # the usual line spacing, below paragraph gaps
        para: list[str] = []
        prev_y: float | None = None

        def flush() -> None:
            text = re.sub(r"-\s(?=[a-z])", "", " ".join(para)).strip()  # words hyphenated at line ends
            if text:
                blocks.append(Block(text, page=number))
            para.clear()

        for text, size, y in lines:
            if round(size, 1) in level and len(text) <= 150:
                flush()
                blocks.append(Block(text, "heading", level[round(size, 1)], page=number))
            else:
                if prev_y is not None and usual and abs(prev_y - y) > usual * 1.4:
                    flush()
                para.append(text)
            prev_y = y
        flush()
    return blocks


def parse_docx(data: bytes, max_uncompressed: int) -> ParsedDocument:
    _check_zip(data, max_uncompressed)
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


def _check_zip(data: bytes, max_uncompressed: int) -> None:
    """Refuse zip bombs before anything decompresses: sizes come from the central directory."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise ParseError(f"DOCX is not a valid zip archive: {exc}") from exc
    total = sum(i.file_size for i in infos)
    if total > max_uncompressed:
        raise ParseError(
            f"DOCX would expand to {total / 1e6:.0f} MB (limit {max_uncompressed / 1e6:.0f} MB): refused as a possible zip bomb"
        )
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > 1000 and info.file_size > 10_000_000:
            raise ParseError(f"DOCX member {info.filename} has a compression ratio over 1000: refused as a possible zip bomb")
    if not any(i.filename == "word/document.xml" for i in infos):
        raise ParseError("DOCX has no word/document.xml (is it really a Word document?)")


