from pathlib import Path

import pytest

from ragwright.ingest.parsers import ParseError, decode_text, parse, parse_html, parse_markdown, parse_text
from tests.filemakers import docx_bytes_without_document, make_docx, make_encrypted_pdf, make_pdf, make_zip_bomb_docx

LIMIT = 200 * 1024 * 1024


def _parse(path: Path, **kw):
    return parse(path, path.read_bytes(), max_docx_bytes=kw.pop("max_docx_bytes", LIMIT), **kw)


def test_markdown_headings_front_matter_and_fences():
    doc = parse_markdown(
        "---\ntitle: Guide\nauthor: x\n---\n# Top\n\nIntro text.\n\n## Sub\n\n"
        "```\n# not a heading\n```\n\nSetext\n------\nBody.\n"
    )
    assert doc.title == "Guide"
    kinds = [(b.kind, b.level, b.text) for b in doc.blocks]
    assert ("heading", 1, "Top") in kinds and ("heading", 2, "Sub") in kinds
    assert ("heading", 2, "Setext") in kinds
    assert not any(b.kind == "heading" and "not a heading" in b.text for b in doc.blocks)
    assert any("# not a heading" in b.text for b in doc.blocks)


def test_html_drops_scripts_and_keeps_structure():
    doc = parse_html(
        "<html><head><title>T</title><script>evil()</script></head><body><nav>menu</nav>"
        "<h1>Main</h1><div><p>First para.</p><ul><li>item one</li></ul></div><script>x()</script></body></html>"
    )
    assert doc.title == "T"
    texts = [b.text for b in doc.blocks]
    assert texts == ["Main", "First para.", "item one"]
    assert "evil" not in " ".join(texts) and "menu" not in " ".join(texts)


def test_pdf_keeps_page_numbers(tmp_path):
    path = make_pdf(tmp_path / "a.pdf", [["Alpha page one."], ["Beta page two."]], title="Doc Title")
    doc = _parse(path)
    assert doc.title == "Doc Title"
    pages = {b.page for b in doc.blocks}
    assert pages == {1, 2}
    assert any("Beta" in b.text and b.page == 2 for b in doc.blocks)


def test_docx_headings_and_title(tmp_path):
    path = make_docx(tmp_path / "a.docx", [("Hardware", ["Laptops are replaced every three years."])], title="Kit")
    doc = _parse(path)
    assert doc.title == "Kit"
    assert [(b.kind, b.text) for b in doc.blocks][:2] == [("heading", "Kit"), ("heading", "Hardware")]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.md", b"", "file is empty"),
        ("blank.txt", b"   \n\n  ", "file is empty"),
        ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary content"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
        ("fake.pdf", b"hello, I am text", "not a PDF"),
        ("fake.docx", b"PK\x03\x04 broken", "not a valid zip"),
        ("image.png", b"\x89PNG", "unsupported file type"),
    ],
)
def test_bad_files_get_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ParseError, match=reason):
        _parse(path)


def test_truncated_pdf(tmp_path):
    path = make_pdf(tmp_path / "t.pdf", [["Some text here."] * 5])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError, match="truncated"):
        _parse(path)


def test_encrypted_pdf(tmp_path):
    with pytest.raises(ParseError, match="encrypted"):
        _parse(make_encrypted_pdf(tmp_path / "e.pdf"))


def test_docx_zip_bomb_is_refused_before_expanding(tmp_path):
    path = make_zip_bomb_docx(tmp_path / "bomb.docx", expanded_mb=300)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(ParseError, match="zip bomb"):
        _parse(path)


def test_docx_without_document_xml(tmp_path):
    path = tmp_path / "x.docx"
    path.write_bytes(docx_bytes_without_document())
    with pytest.raises(ParseError, match=r"word/document\.xml"):
        _parse(path)


def test_encodings():
    assert decode_text("\ufeffhello".encode("utf-8"), []) == "hello"
    assert decode_text("h\u00e9llo".encode("utf-16"), []) == "h\u00e9llo"
    assert decode_text("caf\u00e9".encode("cp1252"), ["cp1252"]) == "caf\u00e9"
    with pytest.raises(ParseError, match="offset 3"):
        decode_text(b"caf\xe9", [])


def test_pdf_headings_from_font_size_and_paragraphs_from_gaps(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for size, text in [
        (18, "Annual Report"),
        (11, "First paragraph line one continues here."),
        (11, "Still the first."),
        (None, None),
        (11, "Second paragraph."),
        (14, "Finances"),
        (11, "Money matters."),
    ]:
        if size is None:
            pdf.ln(8)
            continue
        pdf.set_font("Helvetica", size=size)
        pdf.cell(0, size * 0.6, text, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "r.pdf"
    pdf.output(str(path))
    doc = _parse(path)
    assert [(b.kind, b.level, b.text) for b in doc.blocks] == [
        ("heading", 1, "Annual Report"),
        ("paragraph", 0, "First paragraph line one continues here. Still the first."),
        ("paragraph", 0, "Second paragraph."),
        ("heading", 2, "Finances"),
        ("paragraph", 0, "Money matters."),
    ]


def test_markdown_lists_soft_breaks_code_and_tables():
    doc = parse_markdown(
        "# Keys\n\nRotate keys with `harbor keys rotate --project web`\nevery 90 days.\n\n"
        "- List them.\n- Rotate the\n  oldest.\n\n```bash\nharbor keys list\n\nharbor keys rotate\n```\n\n"
        "| Plan | Lifetime |\n|---|---|\n| Free | 30 days |\n| Team | 90 days |\n\n    indented = True\n"
    )
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "Keys"),
        ("paragraph", "Rotate keys with harbor keys rotate --project web every 90 days."),
        ("paragraph", "List them."),
        ("paragraph", "Rotate the oldest."),
        ("code", "harbor keys list\n\nharbor keys rotate"),
        ("table", "Plan | Lifetime\nFree | 30 days\nTeam | 90 days"),
        ("code", "indented = True"),
    ]
    assert doc.blocks[5].header_rows == 1


def test_plain_text_joins_wrapped_lines_and_keeps_indented_code():
    doc = parse_text(
        "Deploy keys are rotated\nevery 90 days.\nSteps:\n- list them\n- rotate\n\n    harbor keys list\n      --all\n"
    )
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("paragraph", "Deploy keys are rotated every 90 days. Steps:\n- list them\n- rotate"),
        ("code", "harbor keys list\n  --all"),
    ]
