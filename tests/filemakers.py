"""Files of every format, made by the tests themselves: good ones and broken ones."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def make_pdf(path: Path, pages: list[list[str]], title: str = "") -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for paragraphs in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for para in paragraphs:
            pdf.multi_cell(0, 6, para, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(5)
    pdf.output(str(path))
    return path


def make_encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain.pdf"), [["Secret quarterly numbers are inside."]])
    writer = PdfWriter()
    for page in PdfReader(str(plain)).pages:
        writer.add_page(page)
    writer.encrypt("hunter2")
    with path.open("wb") as fh:
        writer.write(fh)
    plain.unlink()
    return path


def make_docx(path: Path, sections: list[tuple[str, list[str]]], title: str = "") -> Path:
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, 0)
    for heading, paragraphs in sections:
        document.add_heading(heading, 1)
        for para in paragraphs:
            document.add_paragraph(para)
    document.save(str(path))
    return path


def make_zip_bomb_docx(path: Path, expanded_mb: int = 300) -> Path:
    """A valid-looking DOCX whose document.xml expands to `expanded_mb` of zeros."""
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            for _ in range(expanded_mb):
                fh.write(block)
    return path


def docx_bytes_without_document() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "not a word file")
    return buf.getvalue()
